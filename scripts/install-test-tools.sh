#!/usr/bin/env bash
# System tools some test layers need (Debian/Ubuntu, run as root or with sudo):
#   chromium  headless browser that loads the HTML report (tests/report/test_report_browser.py)
# The tests that need a tool skip themselves, saying so, when it is missing.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  echo "chromium already installed: $(command -v chromium || command -v chromium-browser)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Debian names the package chromium; Ubuntu's chromium-browser is a snap shim, so prefer chromium.
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core \
  || $SUDO apt-get install -y -qq chromium-browser
command -v chromium || command -v chromium-browser
