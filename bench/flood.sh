#!/usr/bin/env bash
# Password logins under a flood (issue 20): 64 connections of password
# logins (bcrypt cost 12) while a second wrk verifies an API key. Each run
# measures verify alone, then verify during the flood; every figure is the
# median of RUNS runs, given with its ratio: verify under flood against
# verify alone, and the longest login answer against the bound the server
# promises (--login-max-wait plus one bcrypt time, measured here as an idle
# login's time). Every wrk run lasts at most 20 s.
# Usage: bench/flood.sh   (RUNS=3 DUR=8 FLOOD=10 LOGIN_MAX_WAIT=2s)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DUR=${DUR:-8}
FLOOD=${FLOOD:-10}
MAXWAIT=${LOGIN_MAX_WAIT:-2s}
PORT=${PORT:-$((20000 + RANDOM % 20000))}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
[ "$DUR" -le 20 ] && [ "$FLOOD" -le 20 ] || { echo "each run must last at most 20 s" >&2; exit 2; }

go build -o "$work/keyward" ./cmd/keyward
ADMIN=$("$work/keyward" init --data "$work/data" --account bench 2>/dev/null | sed -E 's/.*"api_key":"([^"]+)".*/\1/')
"$work/keyward" serve --data "$work/data" --listen "127.0.0.1:$PORT" --log-level warn --login-max-wait "$MAXWAIT" 2>"$work/serve.log" & pids+=($!)
up=""
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && { up=1; break; }; sleep 0.1; done
[ -n "$up" ] || { echo "keyward did not become ready on port $PORT:" >&2; cat "$work/serve.log" >&2; exit 1; }
base="http://127.0.0.1:$PORT"
json() { sed -E "s/.*\"$1\":\"([^\"]+)\".*/\1/"; }
TOKEN=$(curl -sf -XPOST "$base/api/v1/token" -d "{\"api_key\":\"$ADMIN\"}" | json access_token)
USER=$(curl -sf -XPOST "$base/api/v1/users" -H "Authorization: Bearer $TOKEN" \
  -d '{"login":"bench","password":"Bench-Passw0rd!"}' | json id)
KEY=$(curl -sf -XPOST "$base/api/v1/users/$USER/api-keys" -H "Authorization: Bearer $TOKEN" -d '{}' | sed -E 's/.*"key":"([^"]+)".*/\1/')
LOGIN='{"account":"bench","login":"bench","password":"Bench-Passw0rd!"}'

# One bcrypt time: the median of five idle logins.
BCRYPT_MS=$(for _ in 1 2 3 4 5; do curl -sf -o /dev/null -w '%{time_total}\n' -XPOST "$base/api/v1/token" -d "$LOGIN"; done |
  sort -n | sed -n 3p | awk '{printf "%d", $1 * 1000}')
BOUND_MS=$(awk -v w="${MAXWAIT%s}" -v b="$BCRYPT_MS" 'BEGIN { printf "%d", w * 1000 + b }')
echo "one idle login (bcrypt) ${BCRYPT_MS} ms; promised bound: login-max-wait ${MAXWAIT} + one bcrypt = ${BOUND_MS} ms"

field() { sed -E "s/.*$1=([0-9.]+).*/\1/"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: >"$work/alone"; : >"$work/under"; : >"$work/flood"
for run in $(seq 1 "$RUNS"); do
  BODY="{\"key\":\"$KEY\"}" wrk -t1 -c16 -d"${DUR}s" --timeout 10s -s bench/post.lua "$base/api/v1/api-keys/verify" | grep '^RESULT' >>"$work/alone"
  BODY="$LOGIN" CTYPE=application/json wrk -t1 -c64 -d"${FLOOD}s" --timeout 10s -s bench/flood.lua "$base/api/v1/token" \
    | grep '^RESULT' >>"$work/flood" &
  FP=$!
  sleep 1
  BODY="{\"key\":\"$KEY\"}" wrk -t1 -c16 -d"${DUR}s" --timeout 10s -s bench/post.lua "$base/api/v1/api-keys/verify" | grep '^RESULT' >>"$work/under"
  wait "$FP"
  echo "run $run: flood $(tail -1 "$work/flood" | cut -c8-)"
  echo "run $run: verify alone $(tail -1 "$work/alone" | cut -c8-); under flood $(tail -1 "$work/under" | cut -c8-)"
done
m() { field "$2" <"$work/$1" | median; }
ok=$(m flood ok_per_s); lim=$(m flood limited_per_s); maxus=$(m flood max_us); tmo=$(m flood timeouts)
va=$(m alone rps); vu=$(m under rps); pa=$(m alone p99_us); pu=$(m under p99_us)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "== medians of $RUNS runs (flood: wrk -c64 logins ${FLOOD}s; verify: wrk -c16 ${DUR}s)"
echo "logins answered 200: ${ok}/s; refused 429: ${lim}/s; timeouts: ${tmo}"
echo "longest login answer: $((maxus / 1000)) ms = $(ratio "$maxus" "$((BOUND_MS * 1000))") of the bound (${BOUND_MS} ms)"
echo "logins/s ÷ (1 / bcrypt time): $(ratio "$ok" "$(awk -v b="$BCRYPT_MS" 'BEGIN { print 1000 / b }')")"
echo "verify alone: ${va}/s p99 ${pa} us; under flood: ${vu}/s p99 ${pu} us"
echo "verify under flood / alone: rps $(ratio "$vu" "$va"), p99 $(ratio "$pu" "$pa")"
