#!/usr/bin/env bash
# End-to-end load benchmark of a real framework in workers: the servlet application of the examples
# (io.prefork.examples.ServletApplication) served by JettyWorker behind the prefork supervisor (2 worker JVMs, each
# a Jetty 12 server fed the passed connections), against the same servlets in one ordinary Jetty server that listens
# itself (io.prefork.examples.PlainJettyServer), on loopback. Same method as e2e.sh (bench/E2E.md): interleaved
# repetitions, medians, ratios within one repetition. Figures: bench/README.md, "Jetty in workers".
#
# Builds nothing: run `mvn -B -q -DskipTests package` first.
#
#   bench/scripts/e2e-jetty.sh                             # one request per connection (Connection: close)
#   KEEPALIVE=1 bench/scripts/e2e-jetty.sh                 # wrk keeps its connections alive
#   JAVA=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java REPS=3 bench/scripts/e2e-jetty.sh
#
# Environment (defaults in brackets):
#   JAVA [java]          the JVM for the supervisor, its workers and PlainJettyServer
#   KEEPALIVE [0]        1: wrk keeps its connections (no Connection: close header); the "per connection" columns are
#                        then per request
#   REPS [3]             interleaved repetitions; each runs both variants, in alternating order
#   DURATION [10]        seconds measured per run
#   WARMUP [10]          seconds of the same load before measuring
#   CONNECTIONS [16]     wrk connections (wrk -c), all from one wrk thread (-t1)
#   WORKERS [2]          prefork workers
#   CONCURRENCY [8]      prefork --concurrency: connections each worker's Jetty serves at once. A kept-alive
#                        connection holds its slot for as long as it stays open, so WORKERS x CONCURRENCY should
#                        cover CONNECTIONS. PlainJettyServer gets --threads WORKERS x CONCURRENCY (its pool, like
#                        each worker's, is sized from that: see JettySetup.newServer)
#   PREFETCH [0]         prefork --prefetch
#   QUIET_PCT [20], QUIET_WAIT [30]  before each run, wait up to QUIET_WAIT s for the machine to be at most
#                        QUIET_PCT % busy
#   OUT [bench/target/e2e-jetty-<time>]  where per-run logs and results.tsv go
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

JAVA=${JAVA:-java}
KEEPALIVE=${KEEPALIVE:-0}
REPS=${REPS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-10}
CONNECTIONS=${CONNECTIONS:-16}
WORKERS=${WORKERS:-2}
CONCURRENCY=${CONCURRENCY:-8}
PREFETCH=${PREFETCH:-0}
QUIET_PCT=${QUIET_PCT:-20}
QUIET_WAIT=${QUIET_WAIT:-30}
OUT=${OUT:-$ROOT/bench/target/e2e-jetty-$(date +%Y%m%d-%H%M%S)}

command -v wrk > /dev/null || bench_die "wrk is not installed (apt-get install wrk)"
"$JAVA" -version > /dev/null 2>&1 || bench_die "JAVA=$JAVA does not run"
for v in REPS DURATION WARMUP CONNECTIONS WORKERS CONCURRENCY QUIET_PCT QUIET_WAIT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || bench_die "$v=${!v}: expected a positive integer"
done
[[ $PREFETCH =~ ^[0-9]+$ ]] || bench_die "PREFETCH=$PREFETCH: expected 0 or a positive integer"
case $KEEPALIVE in
    0) MODE="one request per connection (wrk -H 'Connection: close')" ;;
    1) BENCH_WRK_HEADERS=(); MODE="keep-alive (wrk keeps its $CONNECTIONS connections; per-connection columns are per request)" ;;
    *) bench_die "KEEPALIVE=$KEEPALIVE: expected 0 or 1" ;;
esac
if ((KEEPALIVE && WORKERS * CONCURRENCY < CONNECTIONS)); then
    bench_die "KEEPALIVE=1 with WORKERS x CONCURRENCY = $((WORKERS * CONCURRENCY)) < CONNECTIONS = $CONNECTIONS:" \
        "kept-alive connections beyond that would wait for a slot for the whole run; raise CONCURRENCY"
fi

mkdir -p "$OUT"
bench_snapshot_jars "$OUT/jars" "$ROOT" > "$OUT/build.txt"
BUILD=$(cat "$OUT/build.txt")
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

RESULTS=$OUT/results.tsv
bench_results_header "$RESULTS"

# Starts one variant; sets BENCH_PID and BENCH_PORT.
start_variant() {
    local variant=$1 log=$2
    case $variant in
        prefork-jetty)
            bench_start "$log.out" "$log.err" "$JAVA" -jar "$SUPERVISOR_JAR" --listen 127.0.0.1:0 \
                --workers "$WORKERS" --concurrency "$CONCURRENCY" --worker-classpath "$EXAMPLES_JAR" \
                --worker io.prefork.examples.JettyWorker --graceful-timeout 5 --prefetch "$PREFETCH"
            ;;
        plain-jetty)
            bench_start "$log.out" "$log.err" "$JAVA" -cp "$EXAMPLES_JAR" io.prefork.examples.PlainJettyServer \
                --listen 127.0.0.1:0 --threads $((WORKERS * CONCURRENCY))
            ;;
        *) bench_die "unknown variant $variant" ;;
    esac
    bench_await_ready "$BENCH_PID" "$log" "$variant"
}

run_once() {
    bench_run_measured "$1" "$2" start_variant "$RESULTS" %.1f
    tail -n 1 "$RESULTS" | awk -F'\t' '{ printf "rep %s %-13s %7s req/s  p50 %6s us  p99 %6s us  %6s us CPU/req  %5s switches/req  opens %s  errors %s  machine busy %s%%  other CPU %s%%\n",
        $1, $2, $5, $6, $8, $9, $17, $12, $13, $14, $16 }'
}

echo "e2e-jetty: $("$JAVA" -version 2>&1 | head -n 1); $(nproc) CPUs; $REPS reps x (prefork $WORKERS JettyWorkers x" \
     "concurrency $CONCURRENCY, plain Jetty --threads $((WORKERS * CONCURRENCY))); ${WARMUP}s warm-up +" \
     "${DURATION}s measured; wrk -t1 -c$CONNECTIONS, $MODE; logs in $OUT"
echo "$BUILD"
for ((rep = 1; rep <= REPS; rep++)); do
    if ((rep % 2)); then order="prefork-jetty plain-jetty"; else order="plain-jetty prefork-jetty"; fi
    for variant in $order; do
        run_once "$rep" "$variant"
    done
done

{
    echo
    echo "Medians of $REPS interleaved repetitions ($("$JAVA" -version 2>&1 | head -n 1), $(nproc) CPUs, $(date -u '+%F %H:%M UTC')), $MODE:"
    echo "$BUILD"
    echo
    bench_medians_table "$RESULTS" supervisor prefork-jetty plain-jetty
    echo
    echo "(plain-jetty has no workers: its whole CPU is in the 'supervisor' column, which there means the one JVM)"
    echo
    bench_target_lines "$RESULTS" plain-jetty prefork-jetty
    echo "(ratios: median over repetitions of prefork-jetty/plain-jetty within the same repetition; the targets are"
    echo " issue 5's for HelloHttpWorker, shown for scale)"
    echo
    echo "CPU us per connection (or request) by thread (median over repetitions; 'server' is the supervisor JVM, or the plain Jetty JVM):"
    echo
    bench_threads_table "$OUT" 1 prefork-jetty plain-jetty
} | tee "$OUT/summary.md"
