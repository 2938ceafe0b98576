#!/usr/bin/env bash
# End-to-end suite: the real Langfuse JS SDKs (v3 `langfuse`, ingestion-based; v5 `@langfuse/*`,
# OTel-based), installed from npm with `npm ci` (cached: skipped while node_modules matches
# package-lock.json), against a real xtrace binary started zero-config. Runner: node:test.
#   bash compat-tests/js/run.sh
#   SDK_SUITES=v5 bash compat-tests/js/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

JS_DIR="compat-tests/js"
SDK_SUITES="${SDK_SUITES:-v3 v5}"
SUITE_TIMEOUT="${SUITE_TIMEOUT:-600}"

command -v node >/dev/null 2>&1 || { echo "compat-tests/js: node not found (install Node.js >= 20)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "compat-tests/js: npm not found" >&2; exit 1; }
command -v curl >/dev/null 2>&1 || { echo "compat-tests/js: curl not found" >&2; exit 1; }
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || { echo "compat-tests/js: Node.js >= 20 required (found $(node --version))" >&2; exit 1; }

lock_hash="$(sha256sum "$JS_DIR/package-lock.json" | cut -d' ' -f1)-node$node_major"
stamp="$JS_DIR/node_modules/.xtrace-lock-stamp"
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
  echo "== npm ci in $JS_DIR" >&2
  (cd "$JS_DIR" && timeout 600 npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_hash" >"$stamp"
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
xtrace_start js

export LANGFUSE_BASE_URL="$XTRACE_URL" LANGFUSE_BASEURL="$XTRACE_URL" LANGFUSE_HOST="$XTRACE_URL"
export LANGFUSE_PUBLIC_KEY="$XTRACE_PUBLIC_KEY" LANGFUSE_SECRET_KEY="$XTRACE_SECRET_KEY"

files=()
for s in $SDK_SUITES; do
  case "$s" in
    v3|v5) files+=("$JS_DIR/test/$s.test.mjs") ;;
    *) echo "unknown suite $s (expected v3, v5)" >&2; exit 2 ;;
  esac
done
echo "== node --test (Langfuse JS SDKs: $SDK_SUITES) against $XTRACE_URL" >&2
# One file per process, one at a time: each SDK keeps global state (OTel provider, queues).
timeout "$SUITE_TIMEOUT" node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
