#!/usr/bin/env bash
# Audit record size: bytes the data folder grows per audited verify. Starts a
# server on a fresh folder, verifies one key under wrk for DUR, stops the
# server (SQLite checkpoints its WAL on close) and divides the folder's growth
# by the records added. Usage: bench/auditsize.sh [KEYWARD_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-8s}
PORT=${PORT:-$((20000 + RANDOM % 20000))}
work=$(mktemp -d)
kw=""
cleanup() { [ -n "$kw" ] && kill "$kw" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
bin=${1:-}
if [ -z "$bin" ]; then go build -o "$work/keyward" ./cmd/keyward; bin="$work/keyward"; fi
ADMIN=$("$bin" init --data "$work/data" --account bench 2>/dev/null | sed -E 's/.*"api_key":"([^"]+)".*/\1/')
base="http://127.0.0.1:$PORT"
start() {
  "$bin" serve --data "$work/data" --listen "127.0.0.1:$PORT" --log-level warn 2>>"$work/serve.log" &
  kw=$!
  until curl -sf "$base/readyz" >/dev/null; do sleep 0.05; done
}
stop() { kill "$kw"; wait "$kw" 2>/dev/null || true; kw=""; }
records() { "$bin" audit verify --data "$work/data" | sed -nE 's/.*[^0-9]([0-9]+) records.*/\1/p'; }
size() { du -sb "$work/data" | cut -f1; }
start
tok=$(curl -sf -XPOST "$base/api/v1/token" -d "{\"api_key\":\"$ADMIN\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
user=$(curl -sf -XPOST "$base/api/v1/users" -H "Authorization: Bearer $tok" -d '{"login":"app"}' | sed -E 's/.*"id":"([^"]+)".*/\1/')
key=$(curl -sf -XPOST "$base/api/v1/users/$user/api-keys" -H "Authorization: Bearer $tok" -d '{}' | sed -E 's/.*"key":"([^"]+)".*/\1/')
stop
r0=$(records); s0=$(size)
start
BODY="{\"key\":\"$key\"}" wrk -t2 -c16 -d"$DUR" -s bench/post.lua "$base/api/v1/api-keys/verify" | grep RESULT
sleep 1 # let the ingester catch up
sr=$(size) # while serving: the database, its WAL and the audit journal
stop
r1=$(records); s1=$(size)
echo "records=$((r1 - r0)) bytes_stopped=$((s1 - s0)) bytes_per_record_stopped=$(( (s1 - s0) / (r1 - r0) )) bytes_per_record_serving=$(( (sr - s0) / (r1 - r0) ))"
ls -l "$work/data"
if [ -n "${KEEP:-}" ]; then cp -r "$work/data" "$KEEP"; fi
