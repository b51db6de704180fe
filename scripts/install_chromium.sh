#!/usr/bin/env bash
# Install Debian's Chromium (the browser tests, the meeting pack's PDF) and poppler-utils
# (pdftotext/pdftoppm: the PDF test reads the printed pages back) when missing. Needs root
# (CI is root); without root the browser tests are skipped with a message saying so.
set -u
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "Missing ${missing[*]} and this is not root: the tests that need them are skipped." >&2
  echo "Install with: sudo apt-get install -y ${missing[*]}" >&2
  exit 0
fi
echo "Installing Debian's ${missing[*]} for the browser and PDF tests..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null \
  || echo "Could not install ${missing[*]}: the tests that need them are skipped." >&2
exit 0
