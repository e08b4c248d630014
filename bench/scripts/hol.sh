#!/usr/bin/env bash
# Issue 11's head-of-line benchmark: mixed load where 1 request in SLOW_EVERY holds a handler SLOW_MS (HelloHttpWorker's
# /slow?ms=N), the others are immediate, one request per connection, from CLIENTS closed-loop clients
# (io.prefork.bench.e2e.HolLoad). Reports the FAST requests' count, p50, p99, p99.9 and maximum, and errors, for each
# variant, interleaved over REPS repetitions (forwards in odd ones, backwards in even ones).
#
# What it shows: with CLIENTS above the handlers (WORKERS x CONCURRENCY), every handler is mostly busy with a slow
# request (a client spends ~99% of its time in its slow ones), so a fast connection always waits for some handler.
# A supervisor that holds it until any handler frees makes it wait for the first of them; one that has sent it ahead
# to a particular busy worker (--prefetch N) makes it wait for that worker's slow request(s), however many others
# free meanwhile: the fast requests' p99 and maximum show the difference. The more workers with one handler each,
# the larger it is (the first of 4 to free against one given worker): hence 4 workers x concurrency 1 for 6 clients
# by default. (2 x 4 for 12 clients shows the same, less sharply: see bench/README.md, issue 11.)
#
#   flock /tmp/prefork-bench.lock bench/scripts/hol.sh
#   REPS=3 VARIANTS="prefork prefork-p8" JAVA=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java bench/scripts/hol.sh
#   BASELINE_JAR=/tmp/prefork-8496abc VARIANTS="prefork baseline baseline-p8" bench/scripts/hol.sh
#
# Environment (defaults in brackets):
#   JAVA [java]               the JDK of the servers and of the load generator
#   VARIANTS [prefork prefork-p0 prefork-p8]   see bench_start_variant in lib.sh: prefork[-pN|-x], baseline[-pN|-x],
#                             plain (PlainServer: one shared queue, the no-isolation reference)
#   PREFORK_ARGS, BASELINE_ARGS, BASELINE_JAR   as in design-e2e.sh
#   REPS [3], WARMUP [3], DURATION [10]   repetitions; seconds of warm-up (not recorded) and measured load per run
#   CLIENTS [6]               closed-loop clients
#   WORKERS [4], CONCURRENCY [1]   workers and handlers per worker (fewer handlers than CLIENTS, see above)
#   SLOW_EVERY [10], SLOW_MS [200]   one request in SLOW_EVERY asks for /slow?ms=SLOW_MS
#   QUIET_PCT [20], QUIET_WAIT [30]  as in e2e.sh
#   OUT [bench/target/hol-<time>]     per-run logs, results.tsv and summary.md
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

JAVA=${JAVA:-java}
read -r -a VARIANT_LIST <<< "${VARIANTS:-prefork prefork-p0 prefork-p8}"
REPS=${REPS:-3}
WARMUP=${WARMUP:-3}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-6}
WORKERS=${WORKERS:-4}
CONCURRENCY=${CONCURRENCY:-1}
SLOW_EVERY=${SLOW_EVERY:-10}
SLOW_MS=${SLOW_MS:-200}
QUIET_PCT=${QUIET_PCT:-20}
QUIET_WAIT=${QUIET_WAIT:-30}
BASELINE_JAR=${BASELINE_JAR:-}
OUT=${OUT:-$ROOT/bench/target/hol-$(date +%Y%m%d-%H%M%S)}

"$JAVA" -version > /dev/null 2>&1 || bench_die "JAVA=$JAVA does not run"
for v in REPS DURATION CLIENTS WORKERS CONCURRENCY SLOW_EVERY QUIET_PCT QUIET_WAIT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || bench_die "$v=${!v}: expected a positive integer"
done
for v in WARMUP SLOW_MS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || bench_die "$v=${!v}: expected 0 or a positive integer"
done
((SLOW_MS <= 10000)) || bench_die "SLOW_MS=$SLOW_MS: HelloHttpWorker allows /slow?ms= from 0 to 10000"
((${#VARIANT_LIST[@]})) || bench_die "VARIANTS is empty"

mkdir -p "$OUT"
bench_snapshot_jars "$OUT/jars" "$ROOT" > "$OUT/build.txt"
if [[ -n $BASELINE_JAR ]]; then
    bench_snapshot_baseline "$BASELINE_JAR" "$OUT/baseline-jars" >> "$OUT/build.txt"
    # The worker under test is this tree's HelloHttpWorker, whose /slow an older examples jar may not have: only the
    # supervisor and the worker runtime (beside it) come from the baseline.
    BASELINE_EXAMPLES_JAR=$EXAMPLES_JAR
    echo "baseline variants serve this tree's prefork-examples.jar (HelloHttpWorker with /slow)" >> "$OUT/build.txt"
elif [[ " ${VARIANT_LIST[*]} " == *" baseline"* ]]; then
    bench_die "VARIANTS has a baseline variant but BASELINE_JAR is not set"
fi
BUILD=$(cat "$OUT/build.txt")
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

RESULTS=$OUT/results.tsv
printf 'rep\tvariant\tfast\tp50_us\tp99_us\tp999_us\tmax_us\tslow\tslow_p50_us\terrors\tother_cpu_pct\n' > "$RESULTS"

run_once() {
    local rep=$1 variant=$2 log=$OUT/$1-$2 line mach0 mach1
    bench_wait_quiet "$QUIET_PCT" "$QUIET_WAIT" || true
    bench_start_variant "$variant" "$log"
    local pid=$BENCH_PID
    curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$BENCH_PORT/" | grep -q 200 \
        || bench_die "$variant: no 200 from port $BENCH_PORT"
    read -r -a mach0 <<< "$(bench_machine_ticks)"
    local ticks0 ticks1 load0 load1
    bench_children_cpu_us load0
    ticks0=$(for p in $(bench_tree "$pid"); do bench_ticks "$p"; done | awk '{ s += $1 } END { print s + 0 }')
    timeout $((WARMUP + DURATION + 60)) "$JAVA" -cp "$BENCH_JAR" io.prefork.bench.e2e.HolLoad "$BENCH_PORT" "$CLIENTS" \
        "$DURATION" "$WARMUP" "$SLOW_EVERY" "$SLOW_MS" > "$log.hol" 2>&1 \
        || { cat "$log.hol" >&2; bench_die "$variant: HolLoad failed (log: $log.hol)"; }
    ticks1=$(for p in $(bench_tree "$pid"); do bench_ticks "$p"; done | awk '{ s += $1 } END { print s + 0 }')
    read -r -a mach1 <<< "$(bench_machine_ticks)"
    bench_children_cpu_us load1
    bench_stop "$pid" 20
    line=$(grep '^hol fast ' "$log.hol") || bench_die "$variant: no result line in $log.hol"
    # Other CPU: machine busy time, over warm-up and measurement, that was neither the server tree nor HolLoad.
    local other
    other=$(awk -v b=$((mach1[0] - mach0[0])) -v t=$((mach1[1] - mach0[1])) -v s=$((ticks1 - ticks0)) \
        -v load=$((load1 - load0)) -v us=$((1000000 / BENCH_CLK_TCK)) \
        'BEGIN { o = (b - s) * us - load; printf "%.0f", (t > 0 && o > 0 ? 100 * o / (t * us) : 0) }')
    awk -v rep="$rep" -v v="$variant" -v o="$other" '{ printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
        rep, v, $3, $5, $7, $9, $11, $13, $15, $17, o }' <<< "$line" >> "$RESULTS"
    tail -n 1 "$RESULTS" | awk -F'\t' '{ printf "rep %s %-12s fast %6s  p50 %7.2f ms  p99 %7.2f ms  p99.9 %7.2f ms  max %7.2f ms  slow %5s (p50 %.1f ms)  errors %s  other CPU %s%%\n",
        $1, $2, $3, $4 / 1000, $5 / 1000, $6 / 1000, $7 / 1000, $8, $9 / 1000, $10, $11 }'
}

JDK=$("$JAVA" -version 2>&1 | head -n 1)
echo "hol: $JDK; $(nproc) CPUs; $REPS reps x (${VARIANT_LIST[*]}); $WORKERS workers x concurrency $CONCURRENCY;" \
     "$CLIENTS clients, 1 in $SLOW_EVERY requests /slow?ms=$SLOW_MS; ${WARMUP}s warm-up + ${DURATION}s; logs in $OUT"
echo "$BUILD"
for ((rep = 1; rep <= REPS; rep++)); do
    for variant in $(bench_rep_order "$rep" "${VARIANT_LIST[@]}"); do
        run_once "$rep" "$variant"
    done
done

ms() { awk -v u="$1" 'BEGIN { if (u == "-") print "-"; else printf "%.2f", u / 1000 }'; }
{
    echo
    echo "## hol, $(date -u '+%F %H:%M') UTC"
    echo
    echo "$JDK; $(nproc) CPUs; medians of $REPS interleaved repetitions, ${WARMUP}s warm-up + ${DURATION}s measured each;"
    echo "HolLoad: $CLIENTS closed-loop clients, one request per connection, 1 in $SLOW_EVERY is /slow?ms=$SLOW_MS;"
    echo "$WORKERS workers x concurrency $CONCURRENCY, HelloHttpWorker; PREFORK_ARGS='${PREFORK_ARGS:-}'"
    echo
    echo '```'
    echo "$BUILD"
    echo '```'
    echo
    echo "| variant | flags | fast requests | fast p50 ms | fast p99 ms | fast p99.9 ms | fast max ms (worst run) | slow p50 ms | errors (all runs) | other CPU % |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for v in "${VARIANT_LIST[@]}"; do
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$v" "$(bench_variant_flags "$v")" \
            "$(bench_col "$RESULTS" "$v" 3)" "$(ms "$(bench_col "$RESULTS" "$v" 4)")" \
            "$(ms "$(bench_col "$RESULTS" "$v" 5)")" "$(ms "$(bench_col "$RESULTS" "$v" 6)")" \
            "$(ms "$(awk -F'\t' -v v="$v" 'NR > 1 && $2 == v && $7 > m { m = $7 } END { print m + 0 }' "$RESULTS")")" \
            "$(ms "$(bench_col "$RESULTS" "$v" 9)")" \
            "$(awk -F'\t' -v v="$v" 'NR > 1 && $2 == v { s += $10 } END { print s + 0 }' "$RESULTS")" \
            "$(bench_col "$RESULTS" "$v" 11)"
    done
    echo
    echo "Every run:"
    echo
    echo "| rep | variant | fast | p50 ms | p99 ms | p99.9 ms | max ms | slow | slow p50 ms | errors | other CPU % |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %.2f | %.2f | %.2f | %.2f | %s | %.1f | %s | %s |\n",
        $1, $2, $3, $4 / 1000, $5 / 1000, $6 / 1000, $7 / 1000, $8, $9 / 1000, $10, $11 }' "$RESULTS"
} | tee "$OUT/summary.md"
