#!/usr/bin/env bash
# Makes sure the commands the deployment tests need are on PATH, from Debian's packages:
# `tini` (the image's PID 1, package tini) and `setpriv` (runs the entry point as the image's
# non-root user, package util-linux). Usage: ensure-debian-tools.sh <command>... with each command
# one of those. When one is missing and this runs as root, it installs its package with apt-get;
# otherwise it fails with the exact command to run. It never skips silently.
set -euo pipefail
declare -A package_of=([tini]=tini [setpriv]=util-linux)
missing=()
packages=()
for tool in "$@"; do
  if [ -z "${package_of[$tool]:-}" ]; then
    echo "ensure-debian-tools: unknown command '$tool' (known: ${!package_of[*]})" >&2
    exit 2
  fi
  if ! command -v "$tool" >/dev/null 2>&1; then
    missing+=("$tool")
    packages+=("${package_of[$tool]}")
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
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2
for tool in "${missing[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "ensure-debian-tools: $tool still missing after installing" >&2; exit 1; }
done
