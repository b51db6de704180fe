"""The demo data set: a seeded, realistic store with stories to find."""
