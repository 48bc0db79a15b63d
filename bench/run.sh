#!/usr/bin/env bash
# Load benchmark: builds keyward and a trivial net/http ceiling, starts both
# on loopback, and drives them with wrk (HTTP/1.1 keep-alive). Every figure
# is the median of RUNS runs, reported with its ratio to the ceiling measured
# in the same run. Usage: bench/run.sh [quick]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DUR=${DUR:-10s}
CONNS=${CONNS:-32}
PORT=${PORT:-18091}
CEIL_PORT=${CEIL_PORT:-18099}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }

go build -o "$work/keyward" ./cmd/keyward
go build -o "$work/ceiling" ./bench/ceiling
"$work/ceiling" -listen "127.0.0.1:$CEIL_PORT" & pids+=($!)

ADMIN=$("$work/keyward" init --data "$work/data" --account bench 2>/dev/null | sed -E 's/.*"api_key":"([^"]+)".*/\1/')
"$work/keyward" serve --data "$work/data" --listen "127.0.0.1:$PORT" --log-level warn 2>"$work/serve.log" & pids+=($!)
KW_PID=${pids[-1]}
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
base="http://127.0.0.1:$PORT"
json() { sed -E "s/.*\"$1\":\"([^\"]+)\".*/\1/"; }
TOKEN=$(curl -sf -XPOST "$base/api/v1/token" -d "{\"api_key\":\"$ADMIN\"}" | json access_token)
USER=$(curl -sf -XPOST "$base/api/v1/users" -H "Authorization: Bearer $TOKEN" \
  -d '{"login":"bench","password":"Bench-Passw0rd!"}' | json id)
KEY=$(curl -sf -XPOST "$base/api/v1/users/$USER/api-keys" -H "Authorization: Bearer $TOKEN" -d '{}' | sed -E 's/.*"key":"([^"]+)".*/\1/')
UTOKEN=$(curl -sf -XPOST "$base/api/v1/token" -d "{\"api_key\":\"$KEY\"}" | json access_token)

# measure NAME URL BODY [CTYPE] [TOKEN] [CONNS]: prints the median rps and p99 of RUNS runs.
measure() {
  local name=$1 url=$2 body=$3 ctype=${4:-application/json} tok=${5:-} conns=${6:-$CONNS}
  local out=()
  for _ in $(seq 1 "$RUNS"); do
    out+=("$(BODY="$body" CTYPE="$ctype" TOKEN="$tok" wrk -t2 -c"$conns" -d"$DUR" --timeout "${TIMEOUT:-5s}" -s bench/post.lua "$url" | grep '^RESULT')")
  done
  local rps p99 bad
  rps=$(printf '%s\n' "${out[@]}" | sed -E 's/.*rps=([0-9.]+).*/\1/' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  p99=$(printf '%s\n' "${out[@]}" | sed -E 's/.*p99_us=([0-9]+).*/\1/' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  bad=$(printf '%s\n' "${out[@]}" | sed -E 's/.*non2xx=([0-9]+).*/\1/' | awk '{s+=$1} END {print s}')
  printf '%s rps=%.1f p99_us=%d non2xx=%d runs=%d\n' "$name" "$rps" "$p99" "$bad" "${#out[@]}"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
field() { sed -E "s/.*$1=([0-9.]+).*/\1/"; }

echo "== ceiling vs keyward (wrk -t2 -c$CONNS -d$DUR, median of $RUNS)"
CEIL=$(measure ceiling "http://127.0.0.1:$CEIL_PORT/" "{\"key\":\"$KEY\"}")
echo "$CEIL"
VERIFY=$(measure verify "$base/api/v1/api-keys/verify" "{\"key\":\"$KEY\"}")
echo "$VERIFY"
INTRO=$(measure introspect "$base/api/v1/token/introspect" "token=$UTOKEN" application/x-www-form-urlencoded)
echo "$INTRO"
TOKRES=$(measure token "$base/api/v1/token" "{\"api_key\":\"$KEY\"}")
echo "$TOKRES"
CONJ=$(measure conjur-authenticate "$base/authn/bench/bench/authenticate" "$KEY" text/plain)
echo "$CONJ"
c=$(echo "$CEIL" | field rps); cp=$(echo "$CEIL" | field p99_us)
echo "verify/ceiling rps $(ratio "$(echo "$VERIFY" | field rps)" "$c")  p99 ratio $(ratio "$(echo "$VERIFY" | field p99_us)" "$cp")"
echo "introspect/ceiling rps $(ratio "$(echo "$INTRO" | field rps)" "$c")"
echo "token/ceiling rps $(ratio "$(echo "$TOKRES" | field rps)" "$c")"
echo "conjur-authenticate/ceiling rps $(ratio "$(echo "$CONJ" | field rps)" "$c")  conjur-authenticate/token $(ratio "$(echo "$CONJ" | field rps)" "$(echo "$TOKRES" | field rps)")"

echo "== password logins (bcrypt cost 12, pool of default size), 64 connections"
LOGIN=$(TIMEOUT=30s measure password-login "$base/api/v1/token" '{"account":"bench","login":"bench","password":"Bench-Passw0rd!"}' application/json "" 64)
echo "$LOGIN"
echo "== verify during a login flood (64 connections of password logins)"
BODY='{"account":"bench","login":"bench","password":"Bench-Passw0rd!"}' CTYPE=application/json wrk -t1 -c64 -d$(( ${DUR%s} * RUNS + 5 ))s --timeout 30s -s bench/post.lua "$base/api/v1/token" >"$work/flood.txt" &
FLOOD=$!
sleep 2
VFLOOD=$(measure verify-under-flood "$base/api/v1/api-keys/verify" "{\"key\":\"$KEY\"}")
echo "$VFLOOD"
wait $FLOOD || true
grep '^RESULT' "$work/flood.txt" | sed 's/^RESULT/flood/'
echo "verify under flood / verify alone rps $(ratio "$(echo "$VFLOOD" | field rps)" "$(echo "$VERIFY" | field rps)")  p99 ratio $(ratio "$(echo "$VFLOOD" | field p99_us)" "$(echo "$VERIFY" | field p99_us)")"

echo "== key creation through the API (8 connections)"
KC=$(measure key-create "$base/api/v1/users/$USER/api-keys" '{"description":"bench"}' application/json "$TOKEN" 8)
echo "$KC"
echo "keyward RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$KW_PID/status)"
