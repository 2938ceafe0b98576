#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every test.
#   bash compat-tests/run.sh
# The workspace's default members are the server and crates/xtrace-client, so the
# plain cargo commands cover both. Unit tests and the integration suite (compat-tests/,
# against a real PostgreSQL that the suite starts itself, or TEST_DATABASE_URL) run
# through cargo; the SDK suites in compat-tests/python and compat-tests/js, the
# schemathesis run in compat-tests/fuzz and the web UI's browser suite in compat-tests/ui
# (chromium over WebDriver) run when their directories exist.
set -euo pipefail
cd "$(dirname "$0")/.."

have_pg() {
  command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}
if [ -z "${TEST_DATABASE_URL:-}" ] && ! have_pg; then
  echo "PostgreSQL binaries not found: installing the postgresql package" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq postgresql >/dev/null
fi

cargo build --all-targets --locked
cargo test --all-targets --locked -- --test-threads "${TEST_THREADS:-8}"
# `--all-targets` skips doctests; the client crate's documentation examples compile here.
cargo test --doc --locked -p xtrace-client

for suite in compat-tests/python/run.sh compat-tests/js/run.sh compat-tests/fuzz/run.sh compat-tests/ui/run.sh; do
  if [ -f "$suite" ]; then
    echo "== $suite"
    bash "$suite"
  fi
done
