#!/usr/bin/env bash
# Issue 11's comparison in one run: Prefork's default configuration against the C servers of the same design, and the
# plain JVM, with interleaved repetitions, so that a noisy machine hurts every variant alike. Each repetition runs
# every variant once (order forwards in odd repetitions, backwards in even ones), with e2e.sh's method (lib.sh:
# bench_run_measured), and the summary gives each variant's ratios against the C design without acknowledgements,
# computed within each repetition and then the median taken.
#
# Variants (VARIANTS, in this order by default: c-direct c-relay plain prefork prefork-p8):
#   c-direct      relay_floor direct: accept4 on a blocking listener, sendmsg of one descriptor to the next worker in
#                 round robin, close; no acknowledgement, no copy kept (the issue's "C design")
#   c-relay       relay_floor relay, prefetch 0: the acknowledged design in C (ACCEPTED and DONE reports, least busy)
#   c-plain       relay_floor plain: one C process, an accept thread and WORKERS handler threads
#   plain         PlainServer: one JVM, an accept thread and WORKERS handler threads, no isolation
#   prefork       the supervisor with no tuning flag (whatever the build's default is)
#   prefork-pN    the supervisor with --prefetch N
#   prefork-x     the supervisor with the words of PREFORK_ARGS
#   baseline, baseline-pN, baseline-x   the same from the jars in BASELINE_JAR (an older build; flags of -x from
#                 BASELINE_ARGS, default PREFORK_ARGS), to compare an old default with the new one in the same run
#
#   flock /tmp/prefork-bench.lock bench/scripts/design-e2e.sh
#   REPS=3 WARMUP=3 DURATION=6 JAVA=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java bench/scripts/design-e2e.sh
#   BASELINE_JAR=/tmp/prefork-8496abc VARIANTS="c-direct baseline prefork" bench/scripts/design-e2e.sh
#
# Environment (defaults in brackets):
#   JAVA [java]            the JDK of every JVM variant
#   VARIANTS [see above]   which variants, in this order
#   PREFORK_ARGS, BASELINE_ARGS   flags of the -x variants, split on spaces
#   BASELINE_JAR []        a directory with prefork-supervisor.jar, prefork-worker-runtime.jar, prefork-examples.jar
#                          (and optionally a COMMIT file naming their commit) for the baseline variants
#   REPS [3], WARMUP [3], DURATION [6]   interleaved repetitions; seconds of warm-up and measured load per run
#   CONNECTIONS [64], WRK_THREADS [2]    wrk -t WRK_THREADS -c CONNECTIONS -H 'Connection: close'
#   WORKERS [2]            workers (or handler threads) of every variant; CONCURRENCY [1] handlers per worker
#   SYSCALLS [perf]        perf: count system calls per process during the measured seconds (perf stat -e
#                          raw_syscalls:sys_enter); none: do not
#   QUIET_PCT [20], QUIET_WAIT [30]   before each run, wait up to QUIET_WAIT s for the machine to be at most
#                          QUIET_PCT % busy (it goes on regardless; "other CPU" shows the interference)
#   OUT [bench/target/design-e2e-<time>]  per-run logs, results.tsv and summary.md
#
# Per run it reports conn/s; server CPU us per connection, split into the server process (the supervisor; for plain
# and c-plain the one process) and its workers; wrk's latency p50/p90/p99/max; context switches per connection of
# the supervisor's threads and of the workers' (voluntary + involuntary, /proc/PID/task/*/status); system calls per
# connection of each (perf); the supervisor's ceiling, 1e6 / its CPU us per connection, in connections per second
# per core it would reach if it were the only bottleneck; and the machine's "other CPU" (busy time that was neither
# the server tree nor wrk). Only 127.0.0.1 is ever used.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

JAVA=${JAVA:-java}
read -r -a VARIANT_LIST <<< "${VARIANTS:-c-direct c-relay plain prefork prefork-p8}"
REPS=${REPS:-3}
WARMUP=${WARMUP:-3}
DURATION=${DURATION:-6}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
WORKERS=${WORKERS:-2}
CONCURRENCY=${CONCURRENCY:-1}
SYSCALLS=${SYSCALLS:-perf}
QUIET_PCT=${QUIET_PCT:-20}
QUIET_WAIT=${QUIET_WAIT:-30}
BASELINE_JAR=${BASELINE_JAR:-}
OUT=${OUT:-$ROOT/bench/target/design-e2e-$(date +%Y%m%d-%H%M%S)}

command -v wrk > /dev/null || bench_die "wrk is not installed (apt-get install wrk)"
"$JAVA" -version > /dev/null 2>&1 || bench_die "JAVA=$JAVA does not run"
for v in REPS WARMUP DURATION CONNECTIONS WRK_THREADS WORKERS CONCURRENCY QUIET_PCT QUIET_WAIT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || bench_die "$v=${!v}: expected a positive integer"
done
case $SYSCALLS in
    perf)
        perf stat -e raw_syscalls:sys_enter -- true > /dev/null 2>&1 \
            || bench_die "SYSCALLS=perf: 'perf stat -e raw_syscalls:sys_enter' does not work here (install perf, lower kernel.perf_event_paranoid, or run as root); SYSCALLS=none skips the counts"
        BENCH_PERF=1
        ;;
    none) BENCH_PERF=0 ;;
    *) bench_die "SYSCALLS=$SYSCALLS: expected perf or none" ;;
esac
((${#VARIANT_LIST[@]})) || bench_die "VARIANTS is empty"
[[ " ${VARIANT_LIST[*]} " == *" c-direct "* ]] \
    || echo "design-e2e: warning: no c-direct in VARIANTS: no ratios against the C design" >&2

mkdir -p "$OUT"
bench_snapshot_jars "$OUT/jars" "$ROOT" > "$OUT/build.txt"
bench_build_relay_floor "$ROOT" "$OUT" >> "$OUT/build.txt"
if [[ -n $BASELINE_JAR ]]; then
    bench_snapshot_baseline "$BASELINE_JAR" "$OUT/baseline-jars" >> "$OUT/build.txt"
elif [[ " ${VARIANT_LIST[*]} " == *" baseline"* ]]; then
    bench_die "VARIANTS has a baseline variant but BASELINE_JAR is not set"
fi
BUILD=$(cat "$OUT/build.txt")
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

RESULTS=$OUT/results.tsv
bench_results_header "$RESULTS"

run_once() {
    bench_run_measured "$1" "$2" bench_start_variant "$RESULTS" %.2f
    tail -n 1 "$RESULTS" | awk -F'\t' '{ printf "rep %s %-11s %6s conn/s  p50 %5s p99 %6s max %7s us  CPU %6s us/conn (sup %s, workers %s)  switches sup %s workers %s  syscalls sup %s workers %s  errors %s  other CPU %s%%\n",
        $1, $2, $5, $6, $8, $18, $9, $10, $11, $19, $20, $21, $22, $13, $16 }'
}

JDK=$("$JAVA" -version 2>&1 | head -n 1)
echo "design-e2e: $JDK; $(nproc) CPUs; $REPS reps x (${VARIANT_LIST[*]}); $WORKERS workers x concurrency $CONCURRENCY;" \
     "${WARMUP}s warm-up + ${DURATION}s measured; wrk -t$WRK_THREADS -c$CONNECTIONS -H 'Connection: close';" \
     "PREFORK_ARGS='${PREFORK_ARGS:-}'; syscalls: $SYSCALLS; logs in $OUT"
echo "$BUILD"
for ((rep = 1; rep <= REPS; rep++)); do
    for variant in $(bench_rep_order "$rep" "${VARIANT_LIST[@]}"); do
        run_once "$rep" "$variant"
    done
done

# ---------------------------------------------------------------------------------------------------- summary
ratio() { # column $1, variant $2, against c-direct; "-" without c-direct
    local r
    r=$(bench_paired_ratio "$RESULTS" "$1" "$2" c-direct)
    [[ $r == - ]] && echo - || awk -v r="$r" 'BEGIN { printf "%.2f", r }'
}
{
    echo
    echo "## design-e2e, $(date -u '+%F %H:%M') UTC"
    echo
    echo "$JDK; $(nproc) CPUs; medians of $REPS interleaved repetitions, ${WARMUP}s warm-up + ${DURATION}s measured each;"
    echo "wrk -t$WRK_THREADS -c$CONNECTIONS -H 'Connection: close' (one request per connection); $WORKERS workers x concurrency"
    echo "$CONCURRENCY, HelloHttpWorker (the C variants answer the same bytes); PREFORK_ARGS='${PREFORK_ARGS:-}'"
    echo
    echo '```'
    echo "$BUILD"
    echo '```'
    echo
    echo "| variant | conn/s | p50 us | p90 us | p99 us | max us | CPU us/conn | supervisor | workers | supervisor ceiling conn/s/core | switches/conn sup | workers | syscalls/conn sup | workers | errors | other CPU % |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for v in "${VARIANT_LIST[@]}"; do
        sup=$(bench_col "$RESULTS" "$v" 10)
        ceiling=$(awk -v s="$sup" 'BEGIN { if (s + 0 > 0) printf "%.0f", 1e6 / s; else print "-" }')
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$v" \
            "$(bench_col "$RESULTS" "$v" 5)" "$(bench_col "$RESULTS" "$v" 6)" "$(bench_col "$RESULTS" "$v" 7)" \
            "$(bench_col "$RESULTS" "$v" 8)" "$(bench_col "$RESULTS" "$v" 18)" "$(bench_col "$RESULTS" "$v" 9)" \
            "$sup" "$(bench_col "$RESULTS" "$v" 11)" "$ceiling" "$(bench_col "$RESULTS" "$v" 19)" \
            "$(bench_col "$RESULTS" "$v" 20)" "$(bench_col "$RESULTS" "$v" 21)" "$(bench_col "$RESULTS" "$v" 22)" \
            "$(awk -F'\t' -v v="$v" 'NR > 1 && $2 == v { s += $13 } END { print s + 0 }' "$RESULTS")" \
            "$(bench_col "$RESULTS" "$v" 16)"
    done
    echo
    echo "(medians per column; plain and c-plain have no workers: their 'supervisor' is the one process. The ceiling is"
    echo "1e6 / supervisor CPU us per connection: what one core running only the supervisor would reach.)"
    echo
    echo "Against c-direct (median over repetitions of the ratio within each repetition); issue 11's goal for the"
    echo "default: conn/s >= 0.90x, CPU/conn <= 1.50x, supervisor CPU/conn <= 1.50x:"
    echo
    echo "| variant | conn/s | CPU/conn | supervisor CPU/conn | p99 | goal |"
    echo "|---|---:|---:|---:|---:|---|"
    for v in "${VARIANT_LIST[@]}"; do
        [[ $v != c-direct ]] || continue
        c=$(ratio 5 "$v") u=$(ratio 9 "$v") s=$(ratio 10 "$v") p=$(ratio 8 "$v")
        goal=$(awk -v c="$c" -v u="$u" -v s="$s" -v v="$v" 'BEGIN {
            if (c == "-" || v !~ /^(prefork|baseline)/) { print "-"; exit }
            m = ""; if (c < 0.9) m = m " conn/s"; if (u > 1.5) m = m " CPU"; if (s > 1.5) m = m " supervisor"
            print (m == "" ? "met" : "missed:" m) }')
        printf '| %s | %sx | %sx | %sx | %sx | %s |\n' "$v" "$c" "$u" "$s" "$p" "$goal"
    done
    echo
    echo "Every run:"
    echo
    echo "| rep | variant | conn/s | p50 us | p99 us | max us | CPU us/conn | sup | workers | sw/conn sup | workers | sys/conn sup | workers | errors | other CPU % |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
        $1, $2, $5, $6, $8, $18, $9, $10, $11, $19, $20, $21, $22, $13, $16 }' "$RESULTS"
    echo
    echo "CPU us per connection by thread (median over repetitions; 'server' is the supervisor or the one process):"
    echo
    bench_threads_table "$OUT" 1 "${VARIANT_LIST[@]}"
} | tee "$OUT/summary.md"
