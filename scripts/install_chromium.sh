#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests when it is missing. Needs root (CI is root);
# without root the browser tests are skipped with a message saying so.
set -u
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "Chromium is missing and this is not root: browser tests will be skipped." >&2
  echo "Install it with: sudo apt-get install -y chromium" >&2
  exit 0
fi
echo "Installing Debian's chromium for the browser tests..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null \
  || echo "Could not install chromium: browser tests will be skipped." >&2
exit 0
