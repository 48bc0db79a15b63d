#!/usr/bin/env bash
# Scale benchmark: verify throughput with 1,000 and with 1,000,000 stored API
# keys, start-up time to a ready /readyz with 100,000 and 1,000,000 keys, and
# resident memory. Usage: bench/scale.sh (set BIG=100000 for a shorter run).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DUR=${DUR:-10s}
BIG=${BIG:-1000000}
PORT=${PORT:-18092}
work=$(mktemp -d)
kw=""
cleanup() { [ -n "$kw" ] && kill "$kw" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
go build -o "$work/keyward" ./cmd/keyward
go build -o "$work/seedkeys" ./bench/seedkeys
ADMIN=$("$work/keyward" init --data "$work/data" --account bench 2>/dev/null | sed -E 's/.*"api_key":"([^"]+)".*/\1/')
base="http://127.0.0.1:$PORT"

start() {
  local t0 t1
  t0=$(date +%s%N)
  "$work/keyward" serve --data "$work/data" --listen "127.0.0.1:$PORT" --log-level warn 2>>"$work/serve.log" &
  kw=$!
  until curl -sf "$base/readyz" >/dev/null; do sleep 0.05; done
  t1=$(date +%s%N)
  startup="startup_ms=$(( (t1 - t0) / 1000000 ))"
}
stop() { kill "$kw"; wait "$kw" 2>/dev/null || true; kw=""; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$kw/status"; }
verify() {
  local tok user key out=()
  tok=$(curl -sf -XPOST "$base/api/v1/token" -d "{\"api_key\":\"$ADMIN\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  user=$(curl -sf -XPOST "$base/api/v1/users" -H "Authorization: Bearer $tok" -d "{\"login\":\"v$RANDOM$RANDOM\"}" | sed -E 's/.*"id":"([^"]+)".*/\1/')
  key=$(curl -sf -XPOST "$base/api/v1/users/$user/api-keys" -H "Authorization: Bearer $tok" -d '{}' | sed -E 's/.*"key":"([^"]+)".*/\1/')
  for _ in $(seq 1 "$RUNS"); do
    out+=("$(BODY="{\"key\":\"$key\"}" wrk -t2 -c32 -d"$DUR" -s bench/post.lua "$base/api/v1/api-keys/verify" | sed -nE 's/^RESULT rps=([0-9.]+).*/\1/p')")
  done
  printf '%s\n' "${out[@]}" | sort -n | awk '{a[NR]=$1} END {printf "verify_rps_median=%.0f\n", a[int((NR+1)/2)]}'
}

"$work/seedkeys" -data "$work/data" -n 1000
# start runs the server in this shell (not in $(…), whose pipe the server
# would hold open) and leaves its start-up time in $startup.
start; echo "keys=1000 $startup $(verify) rss_kb=$(rss)"; stop
"$work/seedkeys" -data "$work/data" -n 99000
start; echo "keys=100000 $startup rss_kb=$(rss)"; stop
if [ "$BIG" -gt 100000 ]; then
  "$work/seedkeys" -data "$work/data" -n $((BIG - 100000))
  start; echo "keys=$BIG $startup $(verify) rss_kb=$(rss)"; stop
fi
