#!/usr/bin/env bash
# The serving tests start a real redis-server (Debian's package) on a free port in a temp folder.
# Install it when missing and we are root; otherwise say what to do (those tests then skip).
set -euo pipefail
if command -v redis-server >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "installing Debian redis-server for the serving tests..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
else
  echo "warning: redis-server not found; install Debian's 'redis-server' package to run the Redis serving tests" >&2
fi
