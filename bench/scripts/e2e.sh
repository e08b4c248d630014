#!/usr/bin/env bash
# End-to-end load benchmark: HelloHttpWorker behind the prefork supervisor (2 worker JVMs, concurrency 1) against
# the same handler in one plain JVM (PlainServer, 2 handler threads), one request per TCP connection, on loopback.
# See bench/E2E.md for what is measured and the figures.
#
# Builds nothing: run `mvn -B -q -DskipTests package` first.
#
#   bench/scripts/e2e.sh                                   # JDK on PATH, 5 repetitions, 10 s measured per run
#   JAVA=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java REPS=3 DURATION=10 bench/scripts/e2e.sh
#
# Environment (defaults in brackets):
#   JAVA [java]          the JVM for the supervisor, its workers (they run on the supervisor's JDK) and PlainServer
#   REPS [5]             interleaved repetitions; each runs both variants, in alternating order (ABBA...)
#   DURATION [10]        seconds measured per run
#   WARMUP [10]          seconds of the same load before measuring (JIT; three JVMs warm up slower than one:
#                        see "Warm-up" in bench/E2E.md)
#   CONNECTIONS [16]     wrk connections (wrk -c), all from one wrk thread (-t1)
#   WORKERS [2]          prefork workers
#   CONCURRENCY [1]      prefork --concurrency; PlainServer gets WORKERS x CONCURRENCY handler threads
#   PREFETCH [2]         prefork --prefetch, its default (connections sent ahead to busy workers; PlainServer is unaffected)
#   QUIET_PCT [20], QUIET_WAIT [60]  before each run, wait up to QUIET_WAIT s for the machine to be at most
#                        QUIET_PCT % busy (another benchmark or build sharing the CPUs would skew the run)
#   OUT [bench/target/e2e-<time>]  where per-run logs and results.tsv go
#   VARIANTS [prefork plain]  what to run, in this order on odd repetitions and reversed on even ones; besides those
#                        two, prefork-alt: prefork with ALT_WORKER_OPTS [] as extra --worker-jvm-option values
#                        (space-separated), to measure what a worker JVM flag costs against prefork without it
#
# Every run: start the server, wait for its ready line (deadline 60 s), warm up, snapshot CPU ticks of the server's
# process tree (utime+stime from /proc/PID/stat, supervisor and every worker) and the kernel's TCP PassiveOpens,
# run `wrk -t1 -cC -dD -H 'Connection: close' --latency`, snapshot again, stop the server (SIGTERM, then SIGKILL of
# its process group after 20 s). Only 127.0.0.1 is ever used.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

JAVA=${JAVA:-java}
REPS=${REPS:-5}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-10}
CONNECTIONS=${CONNECTIONS:-16}
WORKERS=${WORKERS:-2}
CONCURRENCY=${CONCURRENCY:-1}
PREFETCH=${PREFETCH:-2}
QUIET_PCT=${QUIET_PCT:-20}
QUIET_WAIT=${QUIET_WAIT:-60}
OUT=${OUT:-$ROOT/bench/target/e2e-$(date +%Y%m%d-%H%M%S)}
VARIANTS=${VARIANTS:-prefork plain}
ALT_WORKER_OPTS=${ALT_WORKER_OPTS:-}

WORKER_CLASS=io.prefork.examples.HelloHttpWorker

command -v wrk > /dev/null || bench_die "wrk is not installed (apt-get install wrk)"
"$JAVA" -version > /dev/null 2>&1 || bench_die "JAVA=$JAVA does not run"
for v in REPS DURATION WARMUP CONNECTIONS WORKERS CONCURRENCY QUIET_PCT QUIET_WAIT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || bench_die "$v=${!v}: expected a positive integer"
done
[[ $PREFETCH =~ ^[0-9]+$ ]] || bench_die "PREFETCH=$PREFETCH: expected 0 or a positive integer"

mkdir -p "$OUT"
bench_snapshot_jars "$OUT/jars" "$ROOT" > "$OUT/build.txt" # a redirected function still runs in this shell
BUILD=$(cat "$OUT/build.txt")
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

RESULTS=$OUT/results.tsv
bench_results_header "$RESULTS"

# Starts one variant; sets BENCH_PID and BENCH_PORT.
start_variant() {
    local variant=$1 log=$2
    local -a alt=()
    local o
    for o in $ALT_WORKER_OPTS; do
        alt+=("--worker-jvm-option=$o")
    done
    case $variant in
        prefork|prefork-alt)
            [[ $variant == prefork ]] && alt=()
            # --graceful-timeout 5 only bounds the stop at the end of a run; no connection is in flight by then.
            bench_start "$log.out" "$log.err" "$JAVA" -jar "$SUPERVISOR_JAR" --listen 127.0.0.1:0 \
                --workers "$WORKERS" --concurrency "$CONCURRENCY" --worker-classpath "$EXAMPLES_JAR" \
                --worker "$WORKER_CLASS" --graceful-timeout 5 --prefetch "$PREFETCH" "${alt[@]}"
            ;;
        plain)
            bench_start "$log.out" "$log.err" "$JAVA" -cp "$BENCH_JAR:$EXAMPLES_JAR" io.prefork.bench.e2e.PlainServer \
                --listen 127.0.0.1:0 --threads $((WORKERS * CONCURRENCY)) --worker "$WORKER_CLASS"
            ;;
        *) bench_die "unknown variant $variant" ;;
    esac
    bench_await_ready "$BENCH_PID" "$log" "$variant"
}

run_once() {
    bench_run_measured "$1" "$2" start_variant "$RESULTS" %.1f
    tail -n 1 "$RESULTS" | awk -F'\t' '{ printf "rep %s %-7s %7s conn/s  p50 %6s us  p99 %6s us  %6s us CPU/conn  %5s switches/conn  opens/requests %.3f  errors %s  other CPU %s%%\n",
        $1, $2, $5, $6, $8, $9, $17, $12 / $3, $13, $16 }'
}

echo "e2e: $("$JAVA" -version 2>&1 | head -n 1); $(nproc) CPUs; $REPS reps x (prefork $WORKERS workers x concurrency" \
     "$CONCURRENCY, plain $((WORKERS * CONCURRENCY)) threads); ${WARMUP}s warm-up +" \
     "${DURATION}s measured; wrk -t1 -c$CONNECTIONS -H 'Connection: close'; logs in $OUT"
echo "$BUILD"
for ((rep = 1; rep <= REPS; rep++)); do
    # Alternate the order so that neither variant always runs on a machine that has just been busy.
    if ((rep % 2)); then order=$VARIANTS; else order=$(tr ' ' '\n' <<< "$VARIANTS" | tac | paste -sd' '); fi
    for variant in $order; do
        run_once "$rep" "$variant"
    done
done

# ---------------------------------------------------------------------------------------------------- summary
{
    echo
    echo "Medians of $REPS interleaved repetitions ($("$JAVA" -version 2>&1 | head -n 1), $(nproc) CPUs, $(date -u +%F)):"
    echo "$BUILD"
    echo
    [[ " $VARIANTS " == *" prefork-alt "* ]] && echo "prefork-alt: prefork with worker JVM options $ALT_WORKER_OPTS"
    # shellcheck disable=SC2086 # VARIANTS is a list of words
    bench_medians_table "$RESULTS" supervisor $VARIANTS
    echo
    echo "(plain has no workers: its whole CPU is in the 'supervisor' column, which there means the one JVM)"
    echo
    if [[ " $VARIANTS " == *" plain "* && " $VARIANTS " == *" prefork "* ]]; then
        bench_target_lines "$RESULTS" plain prefork
        echo "(ratios: median over repetitions of prefork/plain within the same repetition)"
    fi
    if [[ " $VARIANTS " == *" prefork-alt "* && " $VARIANTS " == *" prefork "* ]]; then
        echo "conn/s   prefork-alt/prefork: $(bench_paired_ratio "$RESULTS" 5 prefork-alt prefork)x"
        echo "CPU/conn prefork-alt/prefork: $(bench_paired_ratio "$RESULTS" 9 prefork-alt prefork)x"
    fi
    echo
    echo "CPU us per connection by thread (median over repetitions; 'server' is the supervisor JVM, or PlainServer):"
    echo
    # shellcheck disable=SC2086
    bench_threads_table "$OUT" 1 $VARIANTS
} | tee "$OUT/summary.md"
