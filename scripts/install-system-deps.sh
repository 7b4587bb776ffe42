#!/usr/bin/env bash
# Debian packages the browser tests need: Chromium (Playwright drives it; `playwright install`
# cannot download browsers here) and a colour-emoji font for faithful screenshots.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "Noto Color Emoji"; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-noto-color-emoji
command -v chromium >/dev/null
