#!/usr/bin/env bash
# Schemathesis against xtrace's own OpenAPI document (openapi/openapi.json): every operation
# gets a bounded number of generated requests (valid and invalid), checked with
# `not_a_server_error` (no 5xx) and `response_schema_conformance` (answers match the spec).
# Schemathesis comes from PyPI into a cached virtualenv; xtrace runs zero-config.
#   bash compat-tests/fuzz/run.sh
#   FUZZ_MAX_EXAMPLES=50 bash compat-tests/fuzz/run.sh        # longer run
set -euo pipefail
cd "$(dirname "$0")/../.."

SCHEMATHESIS_VERSION="4.32.5"
FUZZ_MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-8}"
FUZZ_TIMEOUT="${FUZZ_TIMEOUT:-900}"
FUZZ_CHECKS="${FUZZ_CHECKS:-not_a_server_error,response_schema_conformance}"
FUZZ_DIR="compat-tests/fuzz"

command -v python3 >/dev/null 2>&1 || { echo "compat-tests/fuzz: python3 not found" >&2; exit 1; }
venv="$FUZZ_DIR/.venv"
want="schemathesis==$SCHEMATHESIS_VERSION python=$(python3 -c 'import sys; print(sys.version.split()[0])')"
if ! [ -x "$venv/bin/schemathesis" ] || [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$want" ]; then
  echo "== installing $want into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  timeout 600 "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  echo "$want" >"$venv/.stamp"
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
# Generated requests include wrong credentials by design; the per-address failure limit
# would turn their 401s into 429s, which the spec does not list everywhere.
XTRACE_AUTH_FAILURES_PER_MINUTE=0 RATE_LIMIT_QPS=0 xtrace_start fuzz

auth="Basic $(printf '%s:%s' "$XTRACE_PUBLIC_KEY" "$XTRACE_SECRET_KEY" | base64 -w0)"
echo "== schemathesis ($FUZZ_CHECKS, $FUZZ_MAX_EXAMPLES examples per operation)" >&2
# Deleting the default project would end the run early; project management is exercised
# by the integration suite.
timeout "$FUZZ_TIMEOUT" "$venv/bin/schemathesis" run openapi/openapi.json \
  --url "$XTRACE_URL" \
  --header "Authorization: $auth" \
  --checks "$FUZZ_CHECKS" \
  --max-examples "$FUZZ_MAX_EXAMPLES" \
  --exclude-path-regex '^/api/public/projects/\{projectId\}$|^/api/public/otel/' \
  --request-timeout 30 \
  --no-color \
  --seed 1 \
  "$@"
