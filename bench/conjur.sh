#!/usr/bin/env bash
# Conjur authenticate vs native token: builds keyward and bench/ceiling,
# starts keyward on a temp folder, makes a host, and drives
# POST /authn/{account}/host%2Fbench%2Fapp/authenticate and POST /api/v1/token
# with the host's API key, and the ceiling, with wrk -t2 -c32 -d10s. Every
# figure is the median of RUNS runs. Usage: bench/conjur.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DUR=${DUR:-10s}
CONNS=${CONNS:-32}
PORT=${PORT:-18191}
CEIL_PORT=${CEIL_PORT:-18199}
ACCOUNT=myorg
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }

go build -o "$work/keyward" ./cmd/keyward
go build -o "$work/ceiling" ./bench/ceiling
"$work/ceiling" -listen "127.0.0.1:$CEIL_PORT" & pids+=($!)
ADMIN=$("$work/keyward" init --data "$work/data" --account "$ACCOUNT" 2>/dev/null | sed -E 's/.*"api_key":"([^"]+)".*/\1/')
"$work/keyward" serve --data "$work/data" --listen "127.0.0.1:$PORT" --account "$ACCOUNT" --log-level warn 2>"$work/serve.log" & pids+=($!)
base="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.1; done
TOKEN=$(curl -sf -XPOST "$base/authn/$ACCOUNT/admin/authenticate" --data-binary "$ADMIN" | base64 -w0)
KEY=$(curl -sf -XPOST "$base/api/v1/users" -H "Authorization: Token token=\"$TOKEN\"" \
  -d '{"login":"bench/app","kind":"host"}' | sed -E 's/.*"api_key":"([^"]+)".*/\1/')
curl -sf -XPOST "$base/authn/$ACCOUNT/host%2Fbench%2Fapp/authenticate" --data-binary "$KEY" >/dev/null

# measure NAME URL SCRIPT: the median rps and p99 of RUNS runs.
measure() {
  local name=$1 url=$2 script=$3 out=()
  for _ in $(seq 1 "$RUNS"); do
    out+=("$(ACCOUNT=$ACCOUNT LOGIN=host%2Fbench%2Fapp KEY=$KEY wrk -t2 -c"$CONNS" -d"$DUR" -s "$script" "$url" | grep '^RESULT')")
  done
  printf '%s\n' "${out[@]}" | sed "s/^RESULT/$name run/" >&2
  local rps p99 bad
  rps=$(printf '%s\n' "${out[@]}" | sed -E 's/.*rps=([0-9.]+).*/\1/' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  p99=$(printf '%s\n' "${out[@]}" | sed -E 's/.*p99_us=([0-9]+).*/\1/' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  bad=$(printf '%s\n' "${out[@]}" | sed -E 's/.*non2xx=([0-9]+).*/\1/' | awk '{s+=$1} END {print s}')
  printf '%s rps=%.0f p99_us=%d non2xx=%d runs=%d\n' "$name" "$rps" "$p99" "$bad" "${#out[@]}"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
field() { sed -E "s/.*$1=([0-9.]+).*/\1/"; }

echo "== wrk -t2 -c$CONNS -d$DUR, median of $RUNS runs"
CEIL=$(measure ceiling "http://127.0.0.1:$CEIL_PORT" bench/native_token.lua); echo "$CEIL"
CONJ=$(measure conjur-authenticate "$base" bench/conjur_authenticate.lua); echo "$CONJ"
NAT=$(measure native-token "$base" bench/native_token.lua); echo "$NAT"
echo "conjur-authenticate/native-token rps $(ratio "$(echo "$CONJ" | field rps)" "$(echo "$NAT" | field rps)")"
echo "conjur-authenticate/ceiling rps $(ratio "$(echo "$CONJ" | field rps)" "$(echo "$CEIL" | field rps)")"
echo "native-token/ceiling rps $(ratio "$(echo "$NAT" | field rps)" "$(echo "$CEIL" | field rps)")"
