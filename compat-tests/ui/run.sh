#!/usr/bin/env bash
# Browser suite for the built-in web UI: Debian's chromium + chromium-driver driven over
# WebDriver by Python selenium (pinned, in a cached venv), against a real xtrace binary
# started zero-config (its own PostgreSQL, fresh data dir).
#   bash compat-tests/ui/run.sh
# Screenshots of every page land in target/ui-screenshots/.
# Skips (exit 0, with a message) only when chromium cannot be installed on this machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

SELENIUM_VERSION="4.51.*"
UI_DIR="compat-tests/ui"
SUITE_TIMEOUT="${SUITE_TIMEOUT:-400}"

find_chromium() {
  CHROMIUM_BIN="$(command -v chromium || command -v chromium-browser || true)"
  CHROMEDRIVER_BIN="$(command -v chromedriver || true)"
  [ -z "$CHROMEDRIVER_BIN" ] && [ -x /usr/lib/chromium/chromedriver ] && CHROMEDRIVER_BIN=/usr/lib/chromium/chromedriver
  [ -n "$CHROMIUM_BIN" ] && [ -n "$CHROMEDRIVER_BIN" ]
}

if ! find_chromium; then
  echo "== installing chromium and chromium-driver (apt-get)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="none"; fi
  if [ "$SUDO" != "none" ] && command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || true
  fi
  if ! find_chromium; then
    echo "compat-tests/ui: SKIPPED — chromium/chromium-driver are not installed and could not be installed (need apt-get as root or sudo)" >&2
    exit 0
  fi
fi
export CHROMIUM_BIN CHROMEDRIVER_BIN

command -v python3 >/dev/null 2>&1 || { echo "compat-tests/ui: python3 not found" >&2; exit 1; }
VENV="$UI_DIR/.venv"
WANT="selenium==$SELENIUM_VERSION python=$(python3 -c 'import sys; print(sys.version.split()[0])')"
if ! [ -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$WANT" ]; then
  echo "== installing $WANT into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check "selenium==$SELENIUM_VERSION"
  echo "$WANT" >"$VENV/.stamp"
fi

# shellcheck source=../sdk-server.sh
. compat-tests/sdk-server.sh
on_exit() {
  local rc=$?
  [ "$rc" -ne 0 ] && xtrace_log_on_failure
  xtrace_stop
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

xtrace_build
xtrace_start ui

export UI_SCREENSHOTS="${UI_SCREENSHOTS:-${CARGO_TARGET_DIR:-target}/ui-screenshots}"
mkdir -p "$UI_SCREENSHOTS"
rm -f "$UI_SCREENSHOTS"/*.png
# Selenium must not look for (or download) a driver: both paths are given.
export SE_OFFLINE=true
timeout "$SUITE_TIMEOUT" "$VENV/bin/python" "$UI_DIR/test_ui.py"
