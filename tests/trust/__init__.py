"""Trust suites: bad files, faults (kills, full disks, concurrent writers) and hostile input."""
