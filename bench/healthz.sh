#!/usr/bin/env bash
# /healthz over HTTPS under load: wrk with 100 connections against the real
# binary (internal CA, warm data dir). The box runs on core 0, wrk on core 1,
# so the numbers are what one core of this machine serves.
#   bench/healthz.sh [bin/clinicbox] [duration]
set -euo pipefail
bin=${1:-bin/clinicbox}
dur=${2:-15s}
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
taskset -c 0 "$bin" serve --data-dir "$dir" --https-addr 127.0.0.1:18443 --http-addr 127.0.0.1:18080 \
  --metrics-addr 127.0.0.1:19464 --turn-addr 127.0.0.1:13478 --hostname localhost,127.0.0.1 --log-level warn &
pid=$!
for _ in $(seq 100); do curl -fsk https://127.0.0.1:18443/healthz >/dev/null 2>&1 && break; sleep 0.1; done
taskset -c 1 wrk -t2 -c100 -d5s https://127.0.0.1:18443/healthz >/dev/null   # warm-up: TLS sessions, GC
taskset -c 1 wrk -t2 -c100 -d"$dur" --latency https://127.0.0.1:18443/healthz
echo "RSS after load: $(awk '/VmRSS/ {print $2/1024 " MiB"}' /proc/$pid/status)"
