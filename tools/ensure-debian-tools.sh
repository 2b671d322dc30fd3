#!/usr/bin/env bash
# Makes sure commands are on PATH, from Debian's packages. Usage:
#   ensure-debian-tools.sh <command>[:<package>]...
# each argument a command and the Debian package that has it (the command's own name when no
# package is given), for example `redis-cli:redis-tools`, `setpriv:util-linux` or `chromium`.
# When some are missing and this runs as root, it installs their packages with apt-get (waiting
# up to 5 minutes for another apt-get to release its lock); otherwise it fails with the exact
# command to run. It never skips silently, and prints nothing on success, so a caller may read a
# command's path with `command -v` afterwards.
# Callers: `.ci/run` (redis, chromium), the deployment, Redis and dashboard e2e tests of apps/cli,
# and benchmarks/resp.
set -euo pipefail
if [ "$#" -eq 0 ]; then
  echo "ensure-debian-tools: name at least one command, as <command>[:<package>] (e.g. redis-cli:redis-tools)" >&2
  exit 2
fi
missing=()
packages=()
for argument in "$@"; do
  tool="${argument%%:*}"
  package="${argument#*:}"
  if [ -z "$tool" ] || [ -z "$package" ] || [[ "$package" == *:* ]]; then
    echo "ensure-debian-tools: '$argument' is not <command>[:<package>] (e.g. redis-cli:redis-tools)" >&2
    exit 2
  fi
  if ! command -v "$tool" >/dev/null 2>&1; then
    missing+=("$tool")
    [[ " ${packages[*]} " == *" $package "* ]] || packages+=("$package")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
install_command="apt-get update && apt-get install -y --no-install-recommends ${packages[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-debian-tools: ${missing[*]} not found on PATH; install as root with:" >&2
  echo "  sudo sh -c '$install_command'" >&2
  exit 1
fi
echo "ensure-debian-tools: ${missing[*]} not found; installing Debian's ${packages[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${packages[@]}" >&2
# Debian's redis-server package may start a service on 6379; dkv's tests start their own on free ports.
for tool in "${missing[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "ensure-debian-tools: $tool still missing after installing" >&2; exit 1; }
done
