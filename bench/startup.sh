#!/usr/bin/env bash
# Start-up to a ready /readyz with 100,000 keys, before and after 1,000,000
# audit records (median of RUNS starts each). Usage: bench/startup.sh
# [KEYWARD_BINARY SEEDKEYS_BINARY SEEDAUDIT_BINARY] (default: built here).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
KEYS=${KEYS:-100000}
RECORDS=${RECORDS:-1000000}
PORT=${PORT:-$((20000 + RANDOM % 20000))}
work=$(mktemp -d)
kw=""
cleanup() { [ -n "$kw" ] && kill "$kw" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
bin=${1:-} seedkeys=${2:-} seedaudit=${3:-}
if [ -z "$bin" ]; then
  go build -o "$work/keyward" ./cmd/keyward; bin="$work/keyward"
  go build -o "$work/seedkeys" ./bench/seedkeys; seedkeys="$work/seedkeys"
  go build -o "$work/seedaudit" ./bench/seedaudit; seedaudit="$work/seedaudit"
fi
"$bin" init --data "$work/data" --account bench >/dev/null 2>&1
base="http://127.0.0.1:$PORT"
start_ms() {
  local t0 t1
  t0=$(date +%s%N)
  "$bin" serve --data "$work/data" --listen "127.0.0.1:$PORT" --log-level warn 2>>"$work/serve.log" &
  kw=$!
  until curl -sf "$base/readyz" >/dev/null; do sleep 0.02; done
  t1=$(date +%s%N)
  kill "$kw"; wait "$kw" 2>/dev/null || true; kw=""
  echo $(( (t1 - t0) / 1000000 ))
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
"$seedkeys" -data "$work/data" -n "$KEYS"
fresh=$(for _ in $(seq 1 "$RUNS"); do start_ms; done | median)
"$seedaudit" -data "$work/data" -n "$RECORDS"
full=$(for _ in $(seq 1 "$RUNS"); do start_ms; done | median)
echo "keys=$KEYS startup_fresh_ms=$fresh records=$RECORDS startup_full_ms=$full db_bytes=$(stat -c %s "$work/data/keyward.db")"
