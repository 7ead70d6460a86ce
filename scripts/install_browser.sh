#!/usr/bin/env bash
# Installs the headless Chromium the browser tests drive (tests/browser):
# Debian's `chromium` package, driven by Playwright through executable_path.
# Playwright's own browser download is never used. Idempotent: does nothing
# when the binary is already there. Override the binary with SPOOLED_CHROMIUM.
set -euo pipefail
BIN=${SPOOLED_CHROMIUM:-/usr/bin/chromium}
if [ -x "$BIN" ]; then
  echo "chromium: $("$BIN" --version 2>/dev/null | head -n1 || echo "$BIN")"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "error: $BIN is missing and installing it needs root (apt-get install chromium)" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: $BIN is missing and this is not a Debian/Ubuntu machine;" \
       "install Chromium and set SPOOLED_CHROMIUM=/path/to/chromium" >&2
  exit 1
fi
echo ">> installing chromium with apt-get"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
echo "chromium: $("$BIN" --version 2>/dev/null | head -n1)"
