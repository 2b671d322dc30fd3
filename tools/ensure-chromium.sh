#!/usr/bin/env bash
# Makes sure Debian's chromium is on PATH: the dashboard's browser test (apps/cli
# src/dashboard.e2e.test.ts) drives it headless through playwright-core. When it is missing and
# this runs as root, it installs it with apt-get (waiting up to 5 minutes for another apt-get to
# release its lock); otherwise it fails with the exact command to run. It never skips silently.
# It prints nothing on success, so a caller may read the browser's path with `command -v chromium`.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
install_command='apt-get update && apt-get install -y --no-install-recommends chromium'
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-chromium: chromium not found on PATH; install it as root with:" >&2
  echo "  sudo sh -c '$install_command'" >&2
  exit 1
fi
echo "ensure-chromium: chromium not found; installing Debian's chromium" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends chromium >&2
command -v chromium >/dev/null 2>&1 || { echo "ensure-chromium: chromium still missing after installing" >&2; exit 1; }
