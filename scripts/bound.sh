#!/usr/bin/env bash
# Finds what bounds a load run: run it beside scripts/bench-gateway.sh (or any load) for SECONDS.
# It reports, over the window:
#   - CPU seconds per process kind (paygw serve / sandbox / loadgen, postgres backends, other) and
#     the machine's idle share, from each process's clock ticks in /proc/PID/stat and /proc/stat;
#   - on PostgreSQL: the wait events of active backends, sampled every 100 ms (what they wait on:
#     LWLock:WALWrite = commit flushes, Lock:transactionid = row contention, none = CPU);
#   - WAL bytes written and payments created in the window, and WAL bytes per payment.
# usage: scripts/bound.sh SECONDS [postgres DSN]
# e.g.   scripts/bench-gateway.sh "$DSN" withhold 60s 64 & sleep 15; scripts/bound.sh 30 "$DSN"; wait
set -euo pipefail
secs=${1:?SECONDS}; dsn=${2:-}
cpu() { # prints "kind seconds" per process kind: each process's user+system time in clock ticks
  # (ps's TIME is whole seconds per process, which lost most of PostgreSQL's many backends)
  local d a
  for d in /proc/[0-9]*; do
    { a=$(tr '\0' ' ' < "$d/cmdline"); } 2>/dev/null || continue
    [ -n "$a" ] || continue
    printf '%s\t%s\n' "$(sed 's/.*) //' "$d/stat" 2>/dev/null | awk '{print $12 + $13}')" "$a"
  done | awk -F'\t' -v hz="$(getconf CLK_TCK)" '{
    a=$2; k="other"
    if (a ~ /paygw.* serve/) k="paygw-serve"; else if (a ~ /paygw.* sandbox/) k="paygw-sandbox";
    else if (a ~ /paygw.* loadgen/) k="paygw-loadgen"; else if (a ~ /^ *postgres/) k="postgres";
    s[k]+=$1 } END { for (k in s) printf "%s %.2f\n", k, s[k] / hz }' | sort
}
idle() { awk '/^cpu /{print $5+$6, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
psqlq() { psql "$dsn" -Atqc "$1"; }

cpu > /tmp/bound.cpu0; read -r i0 t0 < <(idle)
if [ -n "$dsn" ]; then
  w0=$(psqlq "SELECT pg_current_wal_lsn()"); p0=$(psqlq "SELECT count(*) FROM payments")
  : > /tmp/bound.waits
  end=$((SECONDS + secs))
  while [ $SECONDS -lt $end ]; do
    psqlq "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity
           WHERE state = 'active' AND pid <> pg_backend_pid() AND backend_type = 'client backend'" >> /tmp/bound.waits
    sleep 0.1
  done
else
  sleep "$secs"
fi
cpu > /tmp/bound.cpu1; read -r i1 t1 < <(idle)

echo "== CPU seconds over ${secs}s (2 cores = $((2 * secs)) s available)"
join -a2 -e0 -o 2.1,1.2,2.2 /tmp/bound.cpu0 /tmp/bound.cpu1 | awk '{d=$3-$2; if (d>0) printf "  %-14s %6.1f s  (%4.0f%% of one core)\n", $1, d, 100*d/'"$secs"'}'
awk -v i="$((i1 - i0))" -v t="$((t1 - t0))" 'BEGIN { printf "  machine idle   %5.1f%%\n", 100*i/t }'
if [ -n "$dsn" ]; then
  w1=$(psqlq "SELECT pg_current_wal_lsn()"); p1=$(psqlq "SELECT count(*) FROM payments")
  echo "== PostgreSQL wait events of active client backends (samples)"
  sort /tmp/bound.waits | uniq -c | sort -rn | head -15 | sed 's/^/  /'
  wal=$(psqlq "SELECT pg_wal_lsn_diff('$w1', '$w0')::bigint"); n=$((p1 - p0))
  echo "== WAL: $wal bytes for $n payments$( [ "$n" -gt 0 ] && echo " = $((wal / n)) bytes per payment")"
fi
