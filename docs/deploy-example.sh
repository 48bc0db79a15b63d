#!/usr/bin/env bash
# The loopback example of docs/deploy.md, end to end: two keyward instances on
# one PostgreSQL behind nginx. It initialises a database of its own, starts
# both instances and nginx, creates a key through nginx, verifies it on each
# instance directly, revokes it through nginx, shows that both refuse it
# within 1 s, and stops what it started. .ci/run runs it after the tests.
#
# Needs: go, nginx (Debian's nginx package), curl, python3, and a PostgreSQL
# role allowed to create databases:
#   KEYWARD_DEPLOY_PG  base URL (default: $KEYWARD_TEST_POSTGRES, else
#                      postgres://keyward:keyward@127.0.0.1:5432/keyward?sslmode=disable)
#   LB_PORT A_PORT B_PORT  ports (default 8080, 8081, 8082, as in docs/deploy.md)
set -euo pipefail
cd "$(dirname "$0")/.."

PG_BASE="${KEYWARD_DEPLOY_PG:-${KEYWARD_TEST_POSTGRES:-postgres://keyward:keyward@127.0.0.1:5432/keyward?sslmode=disable}}"
LB_PORT="${LB_PORT:-8080}" A_PORT="${A_PORT:-8081}" B_PORT="${B_PORT:-8082}"
DB="keyward_deploy_example_$$"
WORK="$(mktemp -d)"
PIDS=()

# The database URL with another database name.
STORE="$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$PG_BASE" "$DB")"

cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null
  psql -q "$PG_BASE" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "deploy-example: FAIL: $*" >&2; for f in "$WORK"/*.log; do echo "== $f"; tail -20 "$f"; done >&2; exit 1; }
json() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

echo "== build"
go build -o "$WORK/keyward" ./cmd/keyward

echo "== database $DB (max_connections must cover 2 x (store-max-conns + 1) plus headroom)"
psql -q "$PG_BASE" -c "CREATE DATABASE $DB"
psql -qtA "$STORE" -c "SHOW max_connections"

echo "== keyward init --store (once), then the same master.key in each instance's data folder"
mkdir -m 700 "$WORK/a" "$WORK/b"
"$WORK/keyward" init --data "$WORK/a/data" --store "$STORE" --account demo > "$WORK/init.json" 2> "$WORK/init.log"
ADMIN_KEY="$(json api_key < "$WORK/init.json")"
mkdir -m 700 "$WORK/b/data"
install -m 600 "$WORK/a/data/master.key" "$WORK/b/data/master.key"

echo "== two instances: 127.0.0.1:$A_PORT and 127.0.0.1:$B_PORT, trusting nginx's X-Forwarded-For"
for i in a b; do
  port=$A_PORT; [ "$i" = b ] && port=$B_PORT
  "$WORK/keyward" serve --data "$WORK/$i/data" --store "$STORE" --account demo --listen "127.0.0.1:$port" \
    --trusted-proxies 127.0.0.1/32 --store-timeout 5s --store-max-conns 4 > "$WORK/$i.log" 2>&1 &
  PIDS+=($!)
done

echo "== nginx on 127.0.0.1:$LB_PORT"
cat > "$WORK/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx-body;
  proxy_temp_path $WORK/nginx-proxy;
  fastcgi_temp_path $WORK/nginx-fastcgi;
  uwsgi_temp_path $WORK/nginx-uwsgi;
  scgi_temp_path $WORK/nginx-scgi;
  upstream keyward {
    server 127.0.0.1:$A_PORT max_fails=3 fail_timeout=10s;
    server 127.0.0.1:$B_PORT max_fails=3 fail_timeout=10s;
    keepalive 32;
  }
  server {
    listen 127.0.0.1:$LB_PORT;
    location / {
      proxy_pass http://keyward;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 2;
    }
  }
}
NGINX
nginx -t -q -c "$WORK/nginx.conf" -p "$WORK" 2>> "$WORK/nginx-error.log" || fail "nginx -t"
nginx -c "$WORK/nginx.conf" -p "$WORK" 2>> "$WORK/nginx-error.log" || fail "nginx did not start"

for port in "$A_PORT" "$B_PORT" "$LB_PORT"; do
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && break
    sleep 0.1
  done
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] || fail "127.0.0.1:$port not ready"
done
echo "both instances and nginx ready"

LB="http://127.0.0.1:$LB_PORT"
ADMIN_ID="$(curl -sf -H "Authorization: Bearer $ADMIN_KEY" "$LB/api/v1/users?search=admin" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')"

echo "== create a key through nginx"
curl -sf -X POST -H "Authorization: Bearer $ADMIN_KEY" "$LB/api/v1/users/$ADMIN_ID/api-keys" > "$WORK/key.json"
KEY="$(json key < "$WORK/key.json")" KEY_ID="$(json id < "$WORK/key.json")"

verify() { curl -s -X POST "http://127.0.0.1:$1/api/v1/api-keys/verify" -d "{\"key\":\"$KEY\"}"; }
for port in "$A_PORT" "$B_PORT"; do
  out="$(verify "$port")"
  echo "verify on 127.0.0.1:$port: $out" | cut -c1-120
  echo "$out" | grep -q '"valid":true' || fail "the new key is not valid on 127.0.0.1:$port"
done

echo "== revoke it through nginx; both instances refuse it within 1 s"
curl -sf -X DELETE -H "Authorization: Bearer $ADMIN_KEY" "$LB/api/v1/api-keys/$KEY_ID" -o /dev/null
revoked=$(date +%s%N)
for port in "$A_PORT" "$B_PORT"; do
  while :; do
    out="$(verify "$port")"
    if echo "$out" | grep -q '"code":"revoked"'; then break; fi
    [ $(( ($(date +%s%N) - revoked) / 1000000 )) -gt 1000 ] && fail "127.0.0.1:$port still answers $out over 1 s after the revocation"
    sleep 0.02
  done
  echo "127.0.0.1:$port refuses it $(( ($(date +%s%N) - revoked) / 1000000 )) ms after the revocation: $out"
done
echo "deploy-example: OK"
