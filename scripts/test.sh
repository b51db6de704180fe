#!/usr/bin/env bash
# The whole suite. pytest's exit code 5 ("no tests collected") is a failure here.
set -u
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure." >&2
  exit 1
fi
exit "$rc"
