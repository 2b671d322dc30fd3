#!/usr/bin/env bash
# Makes sure redis-server and redis-cli (Debian's redis-server and redis-tools packages) are on
# PATH: the Redis door's tests run redis-cli against dkv, and the benchmarks compare with a real
# redis-server. When they are missing and this runs as root, it installs them with apt-get;
# otherwise it fails with the exact command to run. It never skips silently.
set -euo pipefail
missing=()
for tool in redis-server redis-cli redis-benchmark; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
install_command='apt-get update && apt-get install -y --no-install-recommends redis-server redis-tools'
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-redis: ${missing[*]} not found on PATH; install them as root with:" >&2
  echo "  sudo sh -c '$install_command'" >&2
  exit 1
fi
echo "ensure-redis: ${missing[*]} not found; installing Debian's redis-server and redis-tools" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends redis-server redis-tools >&2
# Debian's package may start a redis-server service on 6379; the tests start their own on free ports.
for tool in redis-server redis-cli redis-benchmark; do
  command -v "$tool" >/dev/null 2>&1 || { echo "ensure-redis: $tool still missing after installing" >&2; exit 1; }
done
