#!/usr/bin/env bash
# Debian packages the tests need: Chromium (Playwright drives it; `playwright install` cannot
# download browsers here), a colour-emoji font for faithful screenshots, and the PostgreSQL
# server (tests/postgres_server.py starts a throwaway one for the tournament's cluster test).
set -euo pipefail
have_postgres() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }
if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "Noto Color Emoji" && have_postgres; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-noto-color-emoji postgresql
command -v chromium >/dev/null
have_postgres
