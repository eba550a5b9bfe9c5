#!/usr/bin/env bash
# Soak: create payments at a fixed rate for DURATION with every payment's notification delivered
# to an instant receiver, and watch what grows.
# usage: scripts/soak.sh DSN DURATION RATE [max in-flight clients, default 512]
#   DSN: sqlite:/tmp/soak.db  or  postgres://postgres@127.0.0.1:5432/paygw_soak?sslmode=disable
#   (use a fresh database: sizes are reported per payment over the whole database)
# Starts the floor (../shared/tools/floor, answers POST /notify with 200 at once) as the merchant's
# notify_url, the sandbox with auto-pay, serve (pprof on loopback), then
#   paygw loadgen --rate RATE --notify-url ... --report-every ${REPORT_EVERY:-1m}
# Every 10 s it samples serve's RSS (VmRSS), the notification backlog (pending+failed count and
# the oldest due age), payments, delivered notifications and the load average into $OUT/samples.csv.
# At the end it waits (at most ${DRAIN_WAIT:-300} s) for the backlog to drain and reports payments,
# notifications delivered vs created, error rate, first vs last interval throughput and p99,
# RSS first vs last, table + index bytes per payment, the nonce table's rows, and on PostgreSQL
# dead tuples and last autovacuum per table. Heap profiles are kept for `go tool pprof -base`.
# Output directory: $OUT (default /tmp/soak.<pid>); summary also on stdout.
set -euo pipefail
# Open loop needs clients for rate x the worst latency: 64 ran out at 290/s when p99 passed 0.7 s
# on the shared 2-vCPU VM (starts not sent count as errors), hence 512.
dsn=${1:?DSN}; dur=${2:?DURATION e.g. 10m}; rate=${3:?RATE payments/s}; conc=${4:-512}
bin=${PAYGW_BIN:-bin/paygw}; floor=${FLOOR_BIN:-bin/floor}
out=${OUT:-/tmp/soak.$$}; mkdir -p "$out"
if [ ! -x "$floor" ]; then
  mkdir -p "$(dirname "$floor")"
  (cd "$(dirname "$0")/../../shared/tools/floor" && go build -o "$OLDPWD/$floor" .) 2>/dev/null ||
    (cd /work/shared/tools/floor && go build -o "$OLDPWD/$floor" .)
fi
gw=$((20000 + $$ % 20000)); sb=$((gw + 1)); rc=$((gw + 2)); pp=$((gw + 3))
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
cat > "$out/config.yaml" <<YAML
public_url: http://127.0.0.1:$gw
channels:
  sandbox: {kind: sandbox, url: "http://127.0.0.1:$sb", secret: soak-secret, timeout: 5s}
server: {merchant_rate_limit: 1000000}
notify: {workers: 16, allow_private_addresses: true}
YAML
export PAYGW_DB=$dsn PAYGW_CONFIG=$out/config.yaml PAYGW_LOG_LEVEL=${PAYGW_LOG_LEVEL:-warn}
export PAYGW_SECRET_KEY=${PAYGW_SECRET_KEY:-$(openssl rand -hex 32)}
case $dsn in
  sqlite:*) engine=sqlite; dbfile=${dsn#sqlite:}; dbfile=${dbfile%%\?*} ;;
  postgres*) engine=postgres ;;
  *) echo "soak: DSN must start with sqlite: or postgres://" >&2; exit 2 ;;
esac
q() { # one SQL query, one value per line ("|" between columns)
  if [ $engine = postgres ]; then psql "$dsn" -Atqc "$1"; else sqlite3 -cmd '.timeout 5000' "$dbfile" "$1"; fi
}
"$bin" migrate up >/dev/null
m=$("$bin" merchant create --name "soak $(date +%s)-$$" --fee-rate-bps 60 --bank-account 6222020000000000000 --json)
mid=$(echo "$m" | sed -E 's/.*"id":"([^"]+)".*/\1/'); sec=$(echo "$m" | sed -E 's/.*"secret":"([^"]+)".*/\1/')

"$floor" -addr 127.0.0.1:$rc -db "$out/receiver.db" >"$out/floor.log" 2>&1 & pids+=($!)
"$bin" sandbox --addr 127.0.0.1:$sb --secret soak-secret --gateway-url http://127.0.0.1:$gw --auto-pay 1s >"$out/sandbox.log" 2>&1 & pids+=($!)
"$bin" serve --addr 127.0.0.1:$gw --pprof-addr 127.0.0.1:$pp >"$out/serve.log" 2>&1 & serve=$!; pids+=($serve)
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:$gw/readyz >/dev/null && curl -s -o /dev/null http://127.0.0.1:$rc/ && break; sleep 0.2; done

if [ $engine = postgres ]; then
  now="now()"; age="extract(epoch FROM now() - min(next_attempt_at))"
else
  now="datetime('now')"; age="(julianday('now') - julianday(min(next_attempt_at))) * 86400"
fi
sample() { # t,rss_mib,payments,notifications,delivered,backlog,oldest_due_s,load1
  local rss pay nots del back old
  rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$serve/status 2>/dev/null || echo 0)
  IFS='|' read -r pay nots del back old < <(q "SELECT (SELECT count(*) FROM payments WHERE merchant_id = '$mid'),
    (SELECT count(*) FROM notifications WHERE merchant_id = '$mid'),
    (SELECT count(*) FROM notifications WHERE merchant_id = '$mid' AND status = 'delivered'),
    (SELECT count(*) FROM notifications WHERE merchant_id = '$mid' AND status IN ('pending', 'failed')),
    (SELECT coalesce(cast(round($age) AS integer), 0) FROM notifications WHERE merchant_id = '$mid' AND status IN ('pending', 'failed'))" | tail -1)
  echo "$1,$rss,$pay,$nots,$del,$back,${old:-0},$(cut -d' ' -f1 /proc/loadavg)"
}
echo "t_s,rss_mib,payments,notifications,delivered,backlog,oldest_due_s,load1" > "$out/samples.csv"
t0=$SECONDS
( while :; do sample $((SECONDS - t0)) >> "$out/samples.csv"; sleep 10; done ) & sampler=$!; pids+=($sampler)
( sleep 75; curl -s -o "$out/heap-1m.pb.gz" "http://127.0.0.1:$pp/debug/pprof/heap" ) & pids+=($!)

"$bin" loadgen --url http://127.0.0.1:$gw --merchant "$mid" --secret "$sec" --pay-method withhold \
  --duration "$dur" --concurrency "$conc" --rate "$rate" --notify-url "http://127.0.0.1:$rc/notify" \
  --report-every "${REPORT_EVERY:-1m}" --json > "$out/loadgen.json" 2> >(tee "$out/loadgen.log" >&2)
curl -s -o "$out/heap-end.pb.gz" "http://127.0.0.1:$pp/debug/pprof/heap" || true
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# Drain: wait until nothing is pending or failed (bounded).
drain_start=$SECONDS; drained=no
while [ $((SECONDS - drain_start)) -lt "${DRAIN_WAIT:-300}" ]; do
  [ "$(q "SELECT count(*) FROM notifications WHERE merchant_id = '$mid' AND status IN ('pending', 'failed')" | tail -1)" = 0 ] && { drained=yes; break; }
  sleep 2
done
drain_s=$((SECONDS - drain_start))
kill $sampler 2>/dev/null || true
sample $((SECONDS - t0)) >> "$out/samples.csv"

{
echo "== soak $engine  rate $rate/s  duration $dur  concurrency $conc  (out: $out)"
jq -r '"loadgen: requests \(.requests)  succeeded \(.succeeded)  error rate \(.error_rate * 100 | tostring | .[0:8])%  errors \(.errors)  p50 \(.p50_ms)  p99 \(.p99_ms) ms  \(.throughput_per_s | floor) payments/s"' "$out/loadgen.json"
jq -r '.intervals as $iv | ($iv | map(select(.partial | not))) as $full | ($full[0] // $iv[0]) as $f | ($full[-1] // $iv[-1]) as $l |
  "first vs last interval (\($f.index) → \($l.index)): throughput \($f.throughput_per_s | floor) → \($l.throughput_per_s | floor)/s (x\($l.throughput_per_s / $f.throughput_per_s | . * 100 | round / 100))  p99 \($f.p99_ms) → \($l.p99_ms) ms (x\(if $f.p99_ms > 0 then $l.p99_ms / $f.p99_ms | . * 100 | round / 100 else "n/a" end))"' "$out/loadgen.json"
IFS='|' read -r pay nots del dead < <(q "SELECT (SELECT count(*) FROM payments WHERE merchant_id = '$mid'),
  (SELECT count(*) FROM notifications WHERE merchant_id = '$mid'),
  (SELECT count(*) FROM notifications WHERE merchant_id = '$mid' AND status = 'delivered'),
  (SELECT count(*) FROM notifications WHERE merchant_id = '$mid' AND status = 'dead')" | tail -1)
echo "payments created $pay  notifications created $nots  delivered $del  dead $dead  drained: $drained after ${drain_s}s"
awk -F, 'NR > 1 && $1 >= 60 && !f { f = $2 } NR > 1 { if ($6 > mb) mb = $6; if ($7 > mo) mo = $7 } END {
  printf "backlog max %d  oldest due max %d s\n", mb, mo }' "$out/samples.csv"
awk -F, -v end="$(( $(sed -n '$=' "$out/samples.csv") - 1 ))" 'NR > 1 { n++; r[n] = $2; t[n] = $1; l[n] = $8 } END {
  # first sample after the first minute (warm caches) vs the last sample under load (before the drain)
  for (i = 1; i <= n; i++) if (t[i] >= 60) { f = i; break }; if (!f) f = 1; last = n - 1; if (last < f) last = n
  printf "serve RSS %.1f MiB (t=%ds) → %.1f MiB (t=%ds)  x%.2f   load average during run: %s → %s\n", r[f], t[f], r[last], t[last], r[last] / r[f], l[f], l[last] }' "$out/samples.csv"
echo "load average at end: $load_end"
echo "== table + index bytes per payment ($pay payments of this merchant; $(q "SELECT count(*) FROM payments" | tail -1) in the database)"
total=$(q "SELECT count(*) FROM payments" | tail -1)
if [ $engine = postgres ]; then
  q "SELECT relname, pg_total_relation_size(relid), pg_relation_size(relid), n_live_tup, n_dead_tup,
       coalesce(to_char(last_autovacuum, 'HH24:MI:SS'), '-'), coalesce(to_char(last_autoanalyze, 'HH24:MI:SS'), '-'), autovacuum_count
     FROM pg_stat_user_tables ORDER BY 2 DESC LIMIT 14" |
  awk -F'|' -v n="$total" 'BEGIN { printf "  %-22s %10s %8s %8s %9s %9s %13s %13s\n", "table", "total MiB", "B/pay", "heap B/p", "live", "dead", "last autovac", "last autoanl" }
    { printf "  %-22s %10.1f %8.0f %8.0f %9d %9d %13s %13s\n", $1, $2/1048576, $2/n, $3/n, $4, $5, $6 " (" $8 ")", $7 }'
  echo "  database $(q "SELECT pg_size_pretty(pg_database_size(current_database()))")"
else
  if q "SELECT 1 FROM dbstat LIMIT 1" >/dev/null 2>&1; then
    q "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize), sum(CASE WHEN m.type = 'table' OR m.type IS NULL THEN d.pgsize ELSE 0 END)
       FROM dbstat d LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY 1 ORDER BY 2 DESC LIMIT 14" |
    awk -F'|' -v n="$total" 'BEGIN { printf "  %-22s %10s %8s %8s   (dbstat)\n", "table", "total MiB", "B/pay", "table B/p" }
      { printf "  %-22s %10.1f %8.0f %8.0f\n", $1, $2/1048576, $2/n, $3/n }'
  fi
  sz=$(stat -c %s "$dbfile"); wal=$(stat -c %s "$dbfile-wal" 2>/dev/null || echo 0)
  echo "  file $((sz / 1048576)) MiB ($((sz / (total > 0 ? total : 1))) B/payment), WAL $((wal / 1048576)) MiB"
fi
echo "auth_nonces rows $(q "SELECT count(*) FROM auth_nonces" | tail -1) (expired: $(q "SELECT count(*) FROM auth_nonces WHERE expires_at <= $now" | tail -1))"
echo "heap profiles: go tool pprof -sample_index=inuse_space -top -base $out/heap-1m.pb.gz $bin $out/heap-end.pb.gz"
} | tee "$out/summary.txt"
