#!/usr/bin/env bash
# Create-payment throughput of N `serve` replicas on one database: one sandbox, N serve processes
# (each with its own pool, sweeper and notification workers, as N pods would be), and one loadgen
# per replica started together; prints each replica's figure and the sum.
# usage: scripts/bench-replicas.sh DSN [replicas] [duration] [clients per replica]
#   DSN: postgres://postgres@127.0.0.1:5432/paygw_replicas?sslmode=disable (a fresh database)
#   SERVE_ARGS: more flags for every serve, e.g. SERVE_ARGS="--db-write-batches 1"
set -euo pipefail
dsn=${1:?DSN}; n=${2:-2}; dur=${3:-20s}; conc=${4:-32}
bin=${PAYGW_BIN:-bin/paygw}
work=$(mktemp -d)
base=$((30000 + $$ % 20000)); sb=$base
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/config.yaml" <<YAML
public_url: http://127.0.0.1:$((base + 1))
channels:
  sandbox: {kind: sandbox, url: "http://127.0.0.1:$sb", secret: bench-secret, timeout: 5s}
server: {merchant_rate_limit: 1000000, merchant_rate_burst: 1000000}
YAML
export PAYGW_DB=$dsn PAYGW_CONFIG=$work/config.yaml PAYGW_LOG_LEVEL=${PAYGW_LOG_LEVEL:-warn}
export PAYGW_SECRET_KEY=${PAYGW_SECRET_KEY:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}
"$bin" migrate up
m=$("$bin" merchant create --name "bench-$$-$RANDOM" --bank-account 6222000011112222 --json)
mid=$(echo "$m" | sed -E 's/.*"id":"([^"]+)".*/\1/'); sec=$(echo "$m" | sed -E 's/.*"secret":"([^"]+)".*/\1/')
"$bin" sandbox --addr 127.0.0.1:$sb --secret bench-secret --gateway-url http://127.0.0.1:$((base + 1)) --auto-pay 1s &
for i in $(seq 1 "$n"); do
  "$bin" serve --addr 127.0.0.1:$((base + i)) ${SERVE_ARGS:-} &
done
for i in $(seq 1 "$n"); do
  for _ in $(seq 1 50); do curl -sf http://127.0.0.1:$((base + i))/readyz >/dev/null && break; sleep 0.2; done
done
pids=()
for i in $(seq 1 "$n"); do
  "$bin" loadgen --url http://127.0.0.1:$((base + i)) --merchant "$mid" --secret "$sec" --pay-method withhold \
    --duration "$dur" --concurrency "$conc" > "$work/lg$i.out" 2>&1 &
  pids+=($!)
done
wait "${pids[@]}"
total=0
for i in $(seq 1 "$n"); do
  echo "replica $i: $(tr '\n' ' ' < "$work/lg$i.out")"
  r=$(sed -nE 's/.*→ +([0-9]+) payments\/s.*/\1/p' "$work/lg$i.out")
  total=$((total + ${r:-0}))
done
echo "replicas $n  total $total payments/s  (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
