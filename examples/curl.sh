#!/usr/bin/env bash
# Exercises a running xtrace with curl: health, auth check, ingestion, reads.
#   cargo run --release &   # in this directory (zero config), then:
#   bash examples/curl.sh   # BASE, PK, SK, TOKEN may be set to target another server
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${BASE:-http://127.0.0.1:8742}
CREDS=${XTRACE_DATA_DIR:-.xtrace}/credentials.json
field() { sed -n "s/.*\"$1\": \"\(.*\)\".*/\1/p" "$CREDS"; }
TOKEN=${TOKEN:-$(field bearerToken)}
PK=${PK:-$(field publicKey)}
SK=${SK:-$(field secretKey)}

step() { printf '\n== %s\n' "$1"; }
expect() { # expect <status> <curl args...>: prints the body, fails on another status
  local want=$1; shift
  local out; out=$(curl -sS -w '\n%{http_code}' "$@")
  local code=${out##*$'\n'}; local body=${out%$'\n'*}
  echo "$body"
  if [ "$code" != "$want" ]; then echo "expected HTTP $want, got $code" >&2; exit 1; fi
}

step "health (no auth)"
expect 200 "$BASE/api/public/health"

step "auth check: the key's project"
expect 200 -u "$PK:$SK" "$BASE/api/public/projects"

step "wrong secret is refused"
expect 401 -u "$PK:wrong" "$BASE/api/public/projects"

TRACE="curl-demo-$(date +%s)"
NOW=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
step "ingest a trace with a generation"
expect 207 -u "$PK:$SK" -H 'Content-Type: application/json' "$BASE/api/public/ingestion" -d "{
  \"batch\": [
    {\"id\": \"$TRACE-ev1\", \"type\": \"trace-create\", \"timestamp\": \"$NOW\",
     \"body\": {\"id\": \"$TRACE\", \"name\": \"chat\", \"userId\": \"alice\", \"tags\": [\"demo\"]}},
    {\"id\": \"$TRACE-ev2\", \"type\": \"generation-create\", \"timestamp\": \"$NOW\",
     \"body\": {\"id\": \"$TRACE-gen\", \"traceId\": \"$TRACE\", \"name\": \"llm\", \"model\": \"gpt-4o\",
                \"startTime\": \"$NOW\", \"input\": \"hi\", \"output\": \"hello\",
                \"usageDetails\": {\"input\": 12, \"output\": 3}}}
  ]}"

step "list traces"
expect 200 -u "$PK:$SK" "$BASE/api/public/traces?page=1&limit=5"

step "get the trace with the admin bearer token"
expect 200 -H "Authorization: Bearer $TOKEN" "$BASE/api/public/traces/$TRACE"

step "projects of the organisation (admin)"
expect 200 -H "Authorization: Bearer $TOKEN" "$BASE/api/public/organizations/projects"
echo
echo "all curl examples passed"
