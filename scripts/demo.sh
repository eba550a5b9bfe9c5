#!/usr/bin/env bash
# make demo: the main job on the embedded SQLite default.
set -euo pipefail
out=${1:-demo-out}
bin=${PAYGW_BIN:-bin/paygw}
rm -rf "$out" && mkdir -p "$out"
export PAYGW_DB="sqlite:$out/paygw.db"
export PAYGW_LOG_FORMAT=${PAYGW_LOG_FORMAT:-console}
"$bin" migrate up
"$bin" migrate status
"$bin" merchant create --name "Demo Coffee" --fee-rate-bps 60 --bank-name "Demo Bank" \
  --bank-account-name "Demo Coffee Ltd" --bank-account 6222021234567890123
"$bin" merchant list
