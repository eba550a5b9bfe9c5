#!/usr/bin/env bash
# Measures create-payment throughput: sandbox and serve as separate processes, loadgen as a third.
# usage: scripts/bench-gateway.sh DSN [pay_method] [duration] [concurrency]
#   DSN: sqlite:/tmp/bench.db  or  postgres://postgres@127.0.0.1:5432/paygw_bench?sslmode=disable
set -euo pipefail
dsn=${1:?DSN}; method=${2:-withhold}; dur=${3:-20s}; conc=${4:-64}
bin=${PAYGW_BIN:-bin/paygw}
work=$(mktemp -d)
gw=$((20000 + $$ % 20000)); sb=$((gw + 1))   # fresh ports per run: a previous run may still be closing
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/config.yaml" <<YAML
public_url: http://127.0.0.1:$gw
channels:
  sandbox: {kind: sandbox, url: "http://127.0.0.1:$sb", secret: bench-secret, timeout: 5s}
server: {merchant_rate_limit: 1000000}
notify: {workers: 16}
YAML
export PAYGW_DB=$dsn PAYGW_CONFIG=$work/config.yaml PAYGW_LOG_LEVEL=${PAYGW_LOG_LEVEL:-warn}
# serve and merchant need a secret key; a reused database keeps the key it was sealed with.
export PAYGW_SECRET_KEY=${PAYGW_SECRET_KEY:-$(openssl rand -hex 32)}
"$bin" migrate up
m=$("$bin" merchant create --name "bench $(date +%s)-$$" --fee-rate-bps 60 --bank-account 6222020000000000000 --json)  # names are unique; a reused database keeps earlier runs' merchants
mid=$(echo "$m" | sed -E 's/.*"id":"([^"]+)".*/\1/'); sec=$(echo "$m" | sed -E 's/.*"secret":"([^"]+)".*/\1/')
"$bin" sandbox --addr 127.0.0.1:$sb --secret bench-secret --gateway-url http://127.0.0.1:$gw --auto-pay 1s &
"$bin" serve --addr 127.0.0.1:$gw ${PPROF:+--pprof-addr $PPROF} &
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:$gw/readyz >/dev/null && break; sleep 0.2; done
"$bin" loadgen --url http://127.0.0.1:$gw --merchant "$mid" --secret "$sec" --pay-method "$method" \
  --duration "$dur" --concurrency "$conc"
