"""Real-browser tests: Debian's Chromium against the running app."""
