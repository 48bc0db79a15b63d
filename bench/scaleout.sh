#!/usr/bin/env bash
# Scale-out benchmark (issue 25): two keyward instances on one PostgreSQL
# against one instance on SQLite measured just before and just after, in the
# same run. wrk drives POST /api/v1/api-keys/verify and POST /api/v1/token
# (with an API key) at CONNS connections in all (CONNS/2 on each instance)
# for DUR each. In the middle of each two-instance run a key is revoked on
# instance A while a probe presents it to both instances in a loop: any
# request that started more than 1 s after the revocation answered and was
# served with it is a violation. Prints requests/s and p99 per instance,
# the ratios to SQLite, and the non-2xx count (must be 0).
# Usage: bench/scaleout.sh   (DUR=30s CONNS=32 by default; KEYWARD_TEST_POSTGRES or PG names the server;
# STORE_MAX_CONNS sets --store-max-conns of both instances, default max(4, cores); AUDIT_SYNC=1 runs them
# with --store-audit-sync)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-30s}
CONNS=${CONNS:-32}
PG=${PG:-${KEYWARD_TEST_POSTGRES:-postgres://keyward:keyward@127.0.0.1:5432/keyward?sslmode=disable}}
P0=${P0:-18191} P1=${P1:-18192} P2=${P2:-18193}
DB="kw_scaleout_$$"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$PG" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
STORE="$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$PG" "$DB")"
half=$((CONNS / 2))

go build -o "$work/keyward" ./cmd/keyward
go build -o "$work/probe" ./bench/probe
psql -q "$PG" -c "CREATE DATABASE $DB"
json() { sed -E "s/.*\"$1\":\"([^\"]+)\".*/\1/"; }
ready() { for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.1; done; echo "port $1 not ready" >&2; exit 1; }

# SQLite: one instance, started for each of its two measurements.
SQ_ADMIN=$("$work/keyward" init --data "$work/sq" --account bench 2>/dev/null | json api_key)
start_sqlite() { "$work/keyward" serve --data "$work/sq" --listen "127.0.0.1:$P0" --log-level warn --access-log=false 2>>"$work/sq.log" & SQ_PID=$!; pids+=($SQ_PID); ready "$P0"; }
stop_sqlite() { kill "$SQ_PID"; wait "$SQ_PID" 2>/dev/null || true; }

# PostgreSQL: init once, the same master key in both folders.
PG_ADMIN=$("$work/keyward" init --data "$work/a" --store "$STORE" --account bench 2>/dev/null | json api_key)
mkdir -m 700 "$work/b" && cp "$work/a/master.key" "$work/b/master.key"
for i in a b; do
  port=$P1; [ $i = b ] && port=$P2
  "$work/keyward" serve --data "$work/$i" --store "$STORE" --listen "127.0.0.1:$port" --log-level warn --access-log=false \
    ${STORE_MAX_CONNS:+--store-max-conns "$STORE_MAX_CONNS"} ${AUDIT_SYNC:+--store-audit-sync} 2>"$work/$i.log" &
  pids+=($!)
done
ready "$P1"; ready "$P2"

# newkey PORT ADMIN: a fresh API key of the admin.
newkey() {
  local id
  id=$(curl -sf -H "Authorization: Bearer $2" "http://127.0.0.1:$1/api/v1/users?search=admin" | sed -E 's/.*"id":"([^"]+)".*"login":"admin".*/\1/')
  curl -sf -XPOST -H "Authorization: Bearer $2" "http://127.0.0.1:$1/api/v1/users/$id/api-keys" -d '{}'
}

# wrkrun NAME PORT PATH BODY CONNS: one wrk run, one RESULT line.
wrkrun() {
  BODY="$4" wrk -t1 -c"$5" -d"$DUR" --timeout 5s -s bench/post.lua "http://127.0.0.1:$2$3" | grep '^RESULT' | sed "s/^RESULT/$1/"
}
field() { sed -E "s/.*$1=([0-9.]+).*/\1/"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# probe PATH BODY OUT: present the key to both instances until stopped
# (bench/probe: one paced process, kept-alive connections); one line per
# answer: start time (ns), port, served (1/0), status.
probe() {
  exec "$work/probe" -path "$1" -body "$2" -ports "$P1,$P2" >"$3"
}

# sqlite_phase LABEL: verify and token on SQLite at CONNS connections.
sqlite_phase() {
  start_sqlite
  local key; key=$(newkey "$P0" "$SQ_ADMIN" | json key)
  echo "sqlite-$1 $(wrkrun verify "$P0" /api/v1/api-keys/verify "{\"key\":\"$key\"}" "$CONNS")"
  echo "sqlite-$1 $(wrkrun token "$P0" /api/v1/token "{\"api_key\":\"$key\"}" "$CONNS")"
  stop_sqlite
}

# pg_phase NAME PATH FIELD: both instances at CONNS/2 each, a revocation in the middle.
pg_phase() {
  local name=$1 path=$2 fieldname=$3 key rev revid
  key=$(newkey "$P1" "$PG_ADMIN" | json key)
  local r; r=$(newkey "$P1" "$PG_ADMIN"); rev=$(echo "$r" | json key); revid=$(echo "$r" | json id)
  probe "$path" "{\"$fieldname\":\"$rev\"}" "$work/probe-$name.txt" & local probe_pid=$!
  wrkrun "pg-A-$name" "$P1" "$path" "{\"$fieldname\":\"$key\"}" "$half" >"$work/A-$name.txt" &
  local wa=$!
  wrkrun "pg-B-$name" "$P2" "$path" "{\"$fieldname\":\"$key\"}" "$half" >"$work/B-$name.txt" &
  local wb=$!
  sleep "$(awk -v d="${DUR%s}" 'BEGIN { print d / 2 }')"
  curl -sf -XDELETE -H "Authorization: Bearer $PG_ADMIN" "http://127.0.0.1:$P1/api/v1/api-keys/$revid" -o /dev/null
  local revoked; revoked=$(date +%s%N)
  wait $wa $wb
  kill $probe_pid 2>/dev/null; wait $probe_pid 2>/dev/null || true
  cat "$work/A-$name.txt" "$work/B-$name.txt"
  # A violation: served, and started more than 1 s after the revocation answered.
  local late lastserved probes
  late=$(awk -v r="$revoked" '$3 == 1 && $1 > r + 1000000000' "$work/probe-$name.txt" | wc -l)
  lastserved=$(awk -v r="$revoked" '$3 == 1 && $1 > r { d = ($1 - r) / 1e6; if (d > m) m = d } END { printf "%.0f", m }' "$work/probe-$name.txt")
  probes=$(awk -v r="$revoked" '$1 > r' "$work/probe-$name.txt" | wc -l)
  local fivexx; fivexx=$(awk '$4 >= 500' "$work/probe-$name.txt" | wc -l)
  echo "revocation-$name probes_after=$probes served_after_1s=$late last_served_ms_after=${lastserved:-0} probe_5xx=$fivexx"
}

echo "== scale-out: wrk -c$CONNS -d$DUR; SQLite before, two instances on PostgreSQL (-c$half each), SQLite after"
SQ1=$(sqlite_phase before); echo "$SQ1"
PGV=$(pg_phase verify /api/v1/api-keys/verify key); echo "$PGV"
PGT=$(pg_phase token /api/v1/token api_key); echo "$PGT"
SQ2=$(sqlite_phase after); echo "$SQ2"

sq() { echo "$SQ1"$'\n'"$SQ2" | grep " $1 " | field rps | awk '{ s += $1 } END { print s / NR }'; }
pgsum() { echo "$2" | grep "^pg-.-$1 " | field rps | awk '{ s += $1 } END { print s }'; }
for op in verify token; do
  src=$PGV; [ $op = token ] && src=$PGT
  total=$(pgsum $op "$src")
  echo "$op: two instances $(printf '%.0f' "$total") req/s = $(ratio "$total" "$(sq $op)") x one SQLite instance ($(printf '%.0f' "$(sq $op)") req/s, mean of before and after)"
done
# Context: what one round trip and one commit to this PostgreSQL cost in this run
# (every audited request waits for one commit: the two-instance figures are
# bounded by connections / that latency).
if command -v pgbench >/dev/null; then
  echo "SELECT 1;" >"$work/rt.sql"
  echo "INSERT INTO audit_pending (time_us, account, event, outcome, reason, actor, subject, key_id, client_ip, peer_ip, request_id, authenticator, detail) VALUES ('{0}','{x}','{x}','{x}','{x}','{x}','{x}','{x}','{x}','{x}','{x}','{x}','{x}');" >"$work/commit.sql"
  echo "postgres round trip (SELECT 1, 1 client): $(pgbench -n -c1 -T2 -f "$work/rt.sql" "$STORE" 2>/dev/null | grep 'latency average')"
  echo "postgres commit (1-row insert, 1 client): $(pgbench -n -c1 -T2 -f "$work/commit.sql" "$STORE" 2>/dev/null | grep 'latency average')"
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
non2xx=$(echo "$SQ1"$'\n'"$SQ2"$'\n'"$PGV"$'\n'"$PGT" | grep -o 'non2xx=[0-9]*' | cut -d= -f2 | awk '{ s += $1 } END { print s }')
echo "non-2xx answers under load: $non2xx"
