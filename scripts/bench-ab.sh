#!/usr/bin/env bash
# A/B of create-payment against the floor, in the same minute, on one engine: the floor first,
# then each paygw binary through scripts/bench-gateway.sh, every run on a fresh database.
# usage: scripts/bench-ab.sh postgres|sqlite DURATION BIN...
#   e.g. scripts/bench-ab.sh postgres 20s bin/paygw-base bin/paygw
# Prints one line per run: name, payments/s, ratio to the floor, p99 ms, errors.
# A BIN may carry DSN parameters for its run: bin/paygw?pool_max_conns=32.
# PAYGW_DSN_EXTRA is appended to paygw's PostgreSQL DSN (not the floor's), e.g. pool_max_conns=32.
set -euo pipefail
engine=${1:?engine}; dur=${2:?duration}; shift 2
pg=${PAYGW_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
n=$$
fresh() { # prints a DSN of a new empty database
  case $engine in
  postgres) local db="paygw_hot_bench_${n}_$1"
    psql "$pg/postgres?sslmode=disable" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    echo "$pg/$db?sslmode=disable" ;;
  sqlite) local f; f=$(mktemp -d)/bench.db; echo "sqlite:$f" ;;
  esac
}
drop() { [ "$engine" = postgres ] && psql "$pg/postgres?sslmode=disable" -qc "DROP DATABASE IF EXISTS paygw_hot_bench_${n}_$1" >/dev/null || true; }
summ() { # name, file
  awk -v name="$1" -v floor="${floor:-0}" '/payments\/s/ {r=$(NF-1)} /p99/ {for(i=1;i<=NF;i++) if ($i=="p99") p=$(i+1)} /^errors/ {e=e" "$2$3}
    END { printf "%-22s %7.0f/s  ratio %5.2f  p99 %7.1f ms %s\n", name, r, (floor>0? r/floor : 1), p, e }' "$2"
}
out=$(mktemp -d)
# floor
dsn=$(fresh floor); port=$((30000 + n % 20000))
fdb=${dsn#sqlite:}
bin/floor -addr 127.0.0.1:$port -db "$fdb" >/dev/null 2>&1 & fp=$!
sleep 1
${LOADGEN:-bin/paygw-base} loadgen --url http://127.0.0.1:$port --merchant M --secret baseline-secret \
  --pay-method withhold --concurrency 64 --duration "$dur" > "$out/floor" 2>&1 || true
kill $fp; wait $fp 2>/dev/null || true; drop floor
floor=$(awk '/payments\/s/ {print $(NF-1)}' "$out/floor")
summ "floor($engine)" "$out/floor"
i=0
for b in "$@"; do
  i=$((i + 1)); dsn=$(fresh "b$i")
  [ "$engine" = postgres ] && [ -n "${PAYGW_DSN_EXTRA:-}" ] && dsn="$dsn&$PAYGW_DSN_EXTRA"   # e.g. pool_max_conns=32
  case $b in *'?'*) [ "$engine" = postgres ] && dsn="$dsn&${b#*\?}";; esac                 # BIN?pool_max_conns=32: per build
  PAYGW_BIN=${b%%\?*} scripts/bench-gateway.sh "$dsn" withhold "$dur" 64 > "$out/b$i" 2>&1 || true
  summ "$b" "$out/b$i"
  drop "b$i"
done
rm -rf "$out"
