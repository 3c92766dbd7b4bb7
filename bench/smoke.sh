#!/usr/bin/env bash
# Smoke test of the real binary: bad flags exit 2, the box starts on a
# fresh data dir, /healthz answers over HTTPS with the box's own CA, and a
# second instance on the same data dir is refused.
set -euo pipefail
bin=${1:-bin/clinicbox}
dir=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "smoke: $*" >&2; exit 1; }

set +e
"$bin" serve --https-addr bogus 2>"$dir/err"; code=$?
set -e
[ "$code" = 2 ] || fail "--https-addr bogus exited $code, want 2"
grep -q -- "--https-addr" "$dir/err" || fail "the error does not name the flag: $(cat "$dir/err")"
echo "ok: --https-addr bogus exits 2: $(cat "$dir/err")"

"$bin" version
"$bin" --help >/dev/null
"$bin" serve --help >/dev/null
"$bin" db check --help >/dev/null

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
https=$(port); http=$(port); metrics=$(port); turn=$(port)
CLINICBOX_DATA_DIR="$dir/data" "$bin" serve --https-addr 127.0.0.1:$https --http-addr 127.0.0.1:$http \
  --metrics-addr 127.0.0.1:$metrics --turn-addr 127.0.0.1:$turn --log-format text 2>"$dir/log" &
pid=$!
for _ in $(seq 100); do
  curl -fsS -o "$dir/ca.crt" "http://127.0.0.1:$http/ca.crt" 2>/dev/null && break
  sleep 0.1
done
curl -fsS --cacert "$dir/ca.crt" "https://localhost:$https/healthz" | grep -q ok || fail "healthz over HTTPS with the box's CA"
curl -fsS --cacert "$dir/ca.crt" "https://127.0.0.1:$https/readyz" | grep -q ready || fail "readyz by IP (no SNI)"
echo "ok: curl --cacert ca.crt https://localhost:$https/healthz"

set +e
"$bin" serve --data-dir "$dir/data" --https-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 \
  --turn-addr 127.0.0.1:0 2>"$dir/err2"; code=$?
set -e
[ "$code" != 0 ] || fail "a second instance on the same data dir started"
grep -q "in use" "$dir/err2" || fail "second instance message: $(cat "$dir/err2")"
echo "ok: second instance refused (exit $code): $(head -1 "$dir/err2")"

kill -TERM "$pid"; wait "$pid" || fail "serve exited non-zero on SIGTERM"; pid=""
"$bin" db check --data-dir "$dir/data" || fail "db check after a clean stop"
"$bin" user add --data-dir "$dir/data" --role admin --email anna@example.se --name "Anna Andersson" \
  --base-url https://box.test >"$dir/link" || fail "user add"
grep -Eq 'https://box.test/setup/[A-Za-z0-9_-]{43}$' "$dir/link" || fail "user add printed no set-up link: $(cat "$dir/link")"
set +e
"$bin" user add --data-dir "$dir/data" --role admin --email anna@example.se --name "Anna" 2>"$dir/err3"; code=$?
set -e
[ "$code" = 2 ] || fail "a second account with the same e-mail: exit $code"
"$bin" audit verify --data-dir "$dir/data" || fail "audit verify on a fresh box"
echo "ok: user add prints a set-up link; audit verify passes"
if grep -Eiq 'password|personnummer' "$dir/log"; then fail "the log mentions secrets"; fi
echo "smoke OK"
