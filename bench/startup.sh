#!/usr/bin/env bash
# Start-up to a ready /readyz with 100,000 keys, on a folder with just them
# ("fresh") and on a copy with 1,000,000 audit records more ("full"), each
# start the first on a copy of the folder as the seeding tools left it (as a
# restart after a day of audited verifications would find it); the starts
# alternate (fresh, full, fresh, …) so that the machine's load drifts alike
# over both, RUNS each, and the medians are printed.
# Usage: bench/startup.sh [KEYWARD_BINARY SEEDKEYS_BINARY SEEDAUDIT_BINARY]
# (default: built here).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
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
"$bin" init --data "$work/fresh" --account bench >/dev/null 2>&1
base="http://127.0.0.1:$PORT"
start_ms() {
  local t0 t1
  rm -rf "$work/run"; cp -r "$1" "$work/run"; sync
  t0=$(date +%s%N)
  "$bin" serve --data "$work/run" --listen "127.0.0.1:$PORT" --log-level warn 2>>"$work/serve.log" &
  kw=$!
  until curl -sf "$base/readyz" >/dev/null; do sleep 0.02; done
  t1=$(date +%s%N)
  kill "$kw"; wait "$kw" 2>/dev/null || true; kw=""
  echo $(( (t1 - t0) / 1000000 ))
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
"$seedkeys" -data "$work/fresh" -n "$KEYS"
cp -r "$work/fresh" "$work/full"
"$seedaudit" -data "$work/full" -n "$RECORDS"
ls -l "$work/full" >&2
fresh="" full=""
for _ in $(seq 1 "$RUNS"); do
  fresh="$fresh $(start_ms "$work/fresh")"
  full="$full $(start_ms "$work/full")"
done
echo "fresh_ms:$fresh"
echo "full_ms:$full"
echo "keys=$KEYS records=$RECORDS startup_fresh_median_ms=$(echo "$fresh" | median) startup_full_median_ms=$(echo "$full" | median) full_db_bytes=$(stat -c %s "$work/full/keyward.db")"
