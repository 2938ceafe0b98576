#!/usr/bin/env bash
# End-to-end suite: the real Langfuse Python SDKs (v2 ingestion-based, v4 OTel-based), installed
# from PyPI into cached virtualenvs, against a real xtrace binary started zero-config.
#   bash compat-tests/python/run.sh            # both SDKs
#   SDK_SUITES=v4 bash compat-tests/python/run.sh
# Extra pytest arguments: PYTEST_ARGS="-k prompt -x".
set -euo pipefail
cd "$(dirname "$0")/../.."

# Pinned SDK versions (bump deliberately; the stamp file forces a reinstall on change).
LANGFUSE_V2_VERSION="2.60.5"
LANGFUSE_V4_VERSION="4.18.0"
PYTEST_VERSION="9.2.0"
SDK_SUITES="${SDK_SUITES:-v2 v4}"
SUITE_TIMEOUT="${SUITE_TIMEOUT:-600}"

PY_DIR="compat-tests/python"
command -v python3 >/dev/null 2>&1 || { echo "compat-tests/python: python3 not found (install Python >= 3.9 with venv)" >&2; exit 1; }
python3 -c 'import venv, ensurepip' 2>/dev/null || { echo "compat-tests/python: python3 lacks venv/ensurepip (apt-get install python3-venv)" >&2; exit 1; }
command -v curl >/dev/null 2>&1 || { echo "compat-tests/python: curl not found" >&2; exit 1; }

# Creates or reuses .venv-<suite> with the pinned packages.
ensure_venv() {
  local suite="$1" version="$2"
  local venv="$PY_DIR/.venv-$suite"
  local want="langfuse==$version pytest==$PYTEST_VERSION python=$(python3 -c 'import sys; print(sys.version.split()[0])')"
  if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  echo "== installing $want into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  timeout 600 "$venv/bin/pip" install -q --disable-pip-version-check "langfuse==$version" "pytest==$PYTEST_VERSION"
  echo "$want" >"$venv/.stamp"
}

for s in $SDK_SUITES; do
  case "$s" in
    v2) ensure_venv v2 "$LANGFUSE_V2_VERSION" ;;
    v4) ensure_venv v4 "$LANGFUSE_V4_VERSION" ;;
    *) echo "unknown suite $s (expected v2, v4)" >&2; exit 2 ;;
  esac
done

# shellcheck source=../sdk-server.sh
. compat-tests/sdk-server.sh
status=0
on_exit() {
  local rc=$?
  [ "$rc" -ne 0 ] && xtrace_log_on_failure
  xtrace_stop
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

xtrace_build
xtrace_start python

export LANGFUSE_HOST="$XTRACE_URL" LANGFUSE_BASE_URL="$XTRACE_URL"
export LANGFUSE_PUBLIC_KEY="$XTRACE_PUBLIC_KEY" LANGFUSE_SECRET_KEY="$XTRACE_SECRET_KEY"
export LANGFUSE_FLUSH_INTERVAL=0.5 PYTHONDONTWRITEBYTECODE=1

for s in $SDK_SUITES; do
  echo "== pytest: Langfuse Python SDK $s against $XTRACE_URL" >&2
  # shellcheck disable=SC2086
  if ! timeout "$SUITE_TIMEOUT" "$PY_DIR/.venv-$s/bin/python" -m pytest -p no:cacheprovider -q -rs \
      "$PY_DIR/test_$s.py" ${PYTEST_ARGS:-}; then
    status=1
  fi
done
exit "$status"
