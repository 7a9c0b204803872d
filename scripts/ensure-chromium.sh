#!/usr/bin/env bash
# The browser test drives Debian's Chromium through Playwright (no browser download is possible
# here). Install it when missing and we are root; otherwise say what to do.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "installing Debian chromium for the browser test..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "warning: /usr/bin/chromium not found; install Debian's 'chromium' package to run the browser test" >&2
fi
