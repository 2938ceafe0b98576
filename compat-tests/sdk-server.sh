# Sourced by compat-tests/python/run.sh and compat-tests/js/run.sh: builds xtrace, starts it
# zero-config (fresh data dir, its own PostgreSQL) on a free loopback port, waits until it is
# healthy, exports XTRACE_URL / XTRACE_PUBLIC_KEY / XTRACE_SECRET_KEY, and stops it with
# SIGTERM on exit. `xtrace_log_on_failure` prints the server log when a suite fails.
# Expects the repository root as the current directory.

XTRACE_START_TIMEOUT="${XTRACE_START_TIMEOUT:-180}"

# Builds the debug binary (reused when up to date) and sets XTRACE_BIN.
xtrace_build() {
  local target="${CARGO_TARGET_DIR:-target}"
  if [ -n "${XTRACE_BIN:-}" ]; then
    [ -x "$XTRACE_BIN" ] || { echo "XTRACE_BIN=$XTRACE_BIN is not executable" >&2; return 1; }
    return 0
  fi
  command -v cargo >/dev/null 2>&1 || { echo "cargo not found: cannot build xtrace" >&2; return 1; }
  cargo build --bin xtrace --locked >&2
  XTRACE_BIN="$target/debug/xtrace"
  [ -x "$XTRACE_BIN" ] || { echo "xtrace binary missing at $XTRACE_BIN" >&2; return 1; }
}

# A free TCP port on 127.0.0.1.
xtrace_free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
  else
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
  fi
}

# Reads one string key of credentials.json.
xtrace_cred() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
  else
    node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1]))[process.argv[2]])' "$1" "$2"
  fi
}

xtrace_stop() {
  if [ -n "${XTRACE_PID:-}" ] && kill -0 "$XTRACE_PID" 2>/dev/null; then
    kill -TERM "$XTRACE_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do
      kill -0 "$XTRACE_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$XTRACE_PID" 2>/dev/null; then
      echo "xtrace did not stop within 10 s of SIGTERM; sending SIGKILL" >&2
      kill -KILL "$XTRACE_PID" 2>/dev/null || true
    fi
    wait "$XTRACE_PID" 2>/dev/null || true
  fi
  XTRACE_PID=""
  if [ -n "${XTRACE_WORK:-}" ] && [ -z "${XTRACE_KEEP_DATA:-}" ]; then
    rm -rf "$XTRACE_WORK"
  fi
}

xtrace_log_on_failure() {
  if [ -n "${XTRACE_LOG:-}" ] && [ -f "$XTRACE_LOG" ]; then
    echo "----- xtrace log (last ${XTRACE_LOG_LINES:-60} lines of $XTRACE_LOG) -----" >&2
    tail -n "${XTRACE_LOG_LINES:-60}" "$XTRACE_LOG" | sed -e 's/\x1b\[[0-9;]*m//g' | cut -c1-600 >&2
    echo "----- end of xtrace log -----" >&2
  fi
}

# Starts xtrace and waits for /api/public/health. Arguments: a name for the temp dir.
xtrace_start() {
  XTRACE_WORK="$(mktemp -d "${TMPDIR:-/tmp}/xtrace-$1.XXXXXX")"
  XTRACE_LOG="$XTRACE_WORK/xtrace.log"
  local port data
  port="$(xtrace_free_port)"
  data="$XTRACE_WORK/data"
  # Zero configuration: no keys, no DATABASE_URL; the SDK variables of the caller's shell
  # must not leak into the server (it reads LANGFUSE_PUBLIC_KEY/SECRET_KEY as project keys).
  env -u LANGFUSE_PUBLIC_KEY -u LANGFUSE_SECRET_KEY -u XTRACE_PUBLIC_KEY -u XTRACE_SECRET_KEY \
    -u DATABASE_URL -u API_BEARER_TOKEN -u LANGFUSE_INIT_PROJECT_ID \
    -u LANGFUSE_INIT_PROJECT_PUBLIC_KEY -u LANGFUSE_INIT_PROJECT_SECRET_KEY \
    XTRACE_DATA_DIR="$data" BIND_ADDR="127.0.0.1:$port" RUST_LOG="${RUST_LOG:-info}" \
    "$XTRACE_BIN" >"$XTRACE_LOG" 2>&1 &
  XTRACE_PID=$!
  XTRACE_URL="http://127.0.0.1:$port"
  local deadline=$((SECONDS + XTRACE_START_TIMEOUT))
  until curl -fsS -o /dev/null --max-time 2 "$XTRACE_URL/api/public/health" 2>/dev/null; do
    if ! kill -0 "$XTRACE_PID" 2>/dev/null; then
      echo "xtrace exited during start-up" >&2
      xtrace_log_on_failure
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "xtrace not healthy within ${XTRACE_START_TIMEOUT} s at $XTRACE_URL" >&2
      xtrace_log_on_failure
      return 1
    fi
    sleep 0.3
  done
  [ -f "$data/credentials.json" ] || { echo "no $data/credentials.json" >&2; xtrace_log_on_failure; return 1; }
  XTRACE_PUBLIC_KEY="$(xtrace_cred "$data/credentials.json" publicKey)"
  XTRACE_SECRET_KEY="$(xtrace_cred "$data/credentials.json" secretKey)"
  XTRACE_BEARER_TOKEN="$(xtrace_cred "$data/credentials.json" bearerToken)"
  export XTRACE_URL XTRACE_PUBLIC_KEY XTRACE_SECRET_KEY XTRACE_BEARER_TOKEN
  echo "xtrace running at $XTRACE_URL (pid $XTRACE_PID, log $XTRACE_LOG)" >&2
}
