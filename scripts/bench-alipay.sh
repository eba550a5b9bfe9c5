#!/usr/bin/env bash
# Create-payment throughput of wallet_qr through the Alipay simulator (precreate: RSA2 request
# signature, simulator verification and answer signature, gateway answer verification) against
# the same through the sandbox kind, in one script run on the same machine.
# usage: scripts/bench-alipay.sh DSN_PREFIX [duration] [concurrency]
#   DSN_PREFIX: sqlite:/tmp/bench-alipay  (a fresh …-sandbox.db and …-alipay.db are used)
set -euo pipefail
prefix=${1:?DSN prefix}; dur=${2:-10s}; conc=${3:-16}
bin=${PAYGW_BIN:-bin/paygw}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
export PAYGW_LOG_LEVEL=${PAYGW_LOG_LEVEL:-warn}
"$bin" sandbox keygen --protocol alipay --dir "$work/keys" >/dev/null
for kind in sandbox alipay; do
  gw=$((20000 + ($$ + ${#kind}) % 20000)); sim=$((gw + 1))
  if [ "$kind" = sandbox ]; then
    ch="  sandbox: {kind: sandbox, url: \"http://127.0.0.1:$sim\", secret: bench-secret, timeout: 5s, pay_methods: [wallet_qr]}"
  else
    ch="  alipay: {kind: alipay, url: \"http://127.0.0.1:$sim/gateway.do\", app_id: \"2021000000000000\", timeout: 5s,
    app_private_key_file: $work/keys/app_private_key.pem, alipay_public_key_file: $work/keys/alipay_public_key.pem, pay_methods: [wallet_qr]}"
  fi
  cat > "$work/$kind.yaml" <<YAML
public_url: http://127.0.0.1:$gw
channels:
$ch
server: {merchant_rate_limit: 1000000}
YAML
  export PAYGW_DB=$prefix-$kind.db PAYGW_CONFIG=$work/$kind.yaml
  "$bin" migrate up >/dev/null
  m=$("$bin" merchant create --name bench --fee-rate-bps 60 --json)
  mid=$(echo "$m" | sed -E 's/.*"id":"([^"]+)".*/\1/'); sec=$(echo "$m" | sed -E 's/.*"secret":"([^"]+)".*/\1/')
  if [ "$kind" = sandbox ]; then
    "$bin" sandbox --addr 127.0.0.1:$sim --secret bench-secret --gateway-url http://127.0.0.1:$gw &
  else
    "$bin" sandbox --protocol alipay --keys "$work/keys" --addr 127.0.0.1:$sim &
  fi
  simpid=$!
  "$bin" serve --addr 127.0.0.1:$gw &
  gwpid=$!
  for _ in $(seq 1 50); do curl -sf http://127.0.0.1:$gw/readyz >/dev/null && break; sleep 0.2; done
  echo "== wallet_qr through $kind"
  "$bin" loadgen --url http://127.0.0.1:$gw --merchant "$mid" --secret "$sec" --pay-method wallet_qr \
    --duration "$dur" --concurrency "$conc"
  kill $gwpid $simpid; wait $gwpid $simpid 2>/dev/null || true
done
