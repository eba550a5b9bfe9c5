#!/usr/bin/env bash
# CPU a payment by process kind, for each build in turn: scripts/bound.sh over 20 s inside a 36 s
# scripts/bench-gateway.sh run on a fresh PostgreSQL database each. Steadier than payments/s when
# comparing builds whose difference is a few per cent: run each build twice, alternating.
# usage: scripts/cpu-ab.sh BIN...      e.g. scripts/cpu-ab.sh bin/paygw-base bin/paygw bin/paygw-base bin/paygw
# Prints per build: payments in the window, serve / PostgreSQL / sandbox / load generator CPU ms a
# payment and their sum, the machine's idle share, WAL bytes a payment, then the run's throughput
# and latency lines.
set -euo pipefail
pg=${PAYGW_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
db=paygw_cpu_ab_$$
out=$(mktemp -d)
trap 'rm -rf "$out"; psql "$pg/postgres?sslmode=disable" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
for b in "$@"; do
  psql "$pg/postgres?sslmode=disable" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  dsn="$pg/$db?sslmode=disable"
  PAYGW_BIN=$b scripts/bench-gateway.sh "$dsn" withhold 36s 64 > "$out/run" 2>&1 &
  sleep 12
  scripts/bound.sh 20 "$dsn" > "$out/bound" 2>&1
  wait
  n=$(awk '/^== WAL/ {print $6}' "$out/bound")
  awk -v n="$n" -v b="$b" '/paygw-serve|paygw-sandbox|postgres |paygw-loadgen/ {v[$1]=$2} /machine idle/ {idle=$3}
    /WAL:/ {wal=$(NF-3)} END {printf "%-16s pay %6d  serve %.3f  pg %.3f  sandbox %.3f  loadgen %.3f  sum %.3f ms  idle %s  wal %s B\n", b, n,
    1000*v["paygw-serve"]/n, 1000*v["postgres"]/n, 1000*v["paygw-sandbox"]/n, 1000*v["paygw-loadgen"]/n,
    1000*(v["paygw-serve"]+v["postgres"]+v["paygw-sandbox"]+v["paygw-loadgen"])/n, idle, wal}' "$out/bound"
  grep -E "payments/s|p99" "$out/run" | sed 's/^/    /'
done
