#!/usr/bin/env bash
# make demo: the whole daily cycle on this machine with the real binary (paygw demo, internal/demo):
# sandbox + gateway as subprocesses, a few hundred payments, notifications, reconciliation with an
# injected discrepancy, settlement, reports and a ledger check. Everything lands under $out.
set -euo pipefail
out=${1:-demo-out}
bin=${PAYGW_BIN:-bin/paygw}
rm -rf "$out"
exec "$bin" demo --dir "$out"
