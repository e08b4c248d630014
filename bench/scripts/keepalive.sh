#!/usr/bin/env bash
# Keep-alive under Prefork (issue 15): wrk -c 256 with keep-alive (wrk's default: requests reuse connections)
# against HelloHttpWorker in three variants, interleaved REPS times, medians printed at the end:
#   plain    one JVM (bench PlainServer) with a thread per client (--threads 256), as a blocking server needs
#   park     the supervisor, WORKERS workers at concurrency 1, HelloHttpWorker parking between requests (default)
#   nopark   the same with --worker-setting park=false: today's behaviour, a worker per idle connection
# Then, unless PARKED=0, the idle load: PARKED keep-alive connections parked in the supervisor, its RSS and CPU
# while they idle and while 1% send a request each second (bench ParkedLoad). Loopback only; everything started
# is stopped on exit.
#   REPS=3 DURATION=10 bench/scripts/keepalive.sh        (build first: mvn -B -q -DskipTests package)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
source "$HERE/lib.sh"

JAVA=${JAVA:-java}
REPS=${REPS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-256}
WORKERS=${WORKERS:-2}
PARKED=${PARKED:-10000}
PHASE=${PHASE:-30}
OUT=${OUT:-$ROOT/bench/target/keepalive-$(date +%Y%m%d-%H%M%S)}
WORKER_CLASS=io.prefork.examples.HelloHttpWorker

command -v wrk > /dev/null || bench_die "wrk is not installed (apt-get install wrk)"
for v in REPS DURATION CONNECTIONS WORKERS PHASE; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || bench_die "$v=${!v}: expected a positive integer"
done
[[ $PARKED =~ ^[0-9]+$ ]] || bench_die "PARKED=$PARKED: expected 0 or a positive integer"
mkdir -p "$OUT"
bench_snapshot_jars "$OUT/jars" "$ROOT" > "$OUT/build.txt"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
echo "$(cat "$OUT/build.txt"); $("$JAVA" -version 2>&1 | head -1); $(date -u '+%Y-%m-%d %H:%M UTC')" | tee "$OUT/summary.txt"

start() {
    local variant=$1 log=$OUT/$2
    case $variant in
        plain) bench_start "$log.out" "$log.err" "$JAVA" -cp "$BENCH_JAR:$EXAMPLES_JAR" io.prefork.bench.e2e.PlainServer \
                   --listen 127.0.0.1:0 --threads "$CONNECTIONS" --worker "$WORKER_CLASS" ;;
        park|nopark)
            local extra=()
            [[ $variant == nopark ]] && extra=(--worker-setting park=false)
            bench_start "$log.out" "$log.err" "$JAVA" -jar "$SUPERVISOR_JAR" --listen 127.0.0.1:0 --workers "$WORKERS" \
                --worker-classpath "$EXAMPLES_JAR" --worker "$WORKER_CLASS" --graceful-timeout 1 \
                --max-parked 50000 --keep-alive 300 "${extra[@]}" ;;
    esac
    local line
    line=$(bench_wait_line "$log.out" 'ready on [^ ]+:[0-9]+' 120 "$BENCH_PID") || bench_die "$variant did not start: $log.err"
    PORT=$(sed -E 's/.*ready on [^ ]+:([0-9]+).*/\1/' <<< "$line")
}

for rep in $(seq 1 "$REPS"); do
    for variant in plain park nopark; do
        start "$variant" "$variant-$rep"
        pid=$BENCH_PID
        wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$PORT/" > "$OUT/$variant-$rep.wrk" 2>&1 || true
        rps=$(awk '/^Requests\/sec/ { print $2 }' "$OUT/$variant-$rep.wrk")
        errs=$(grep -E 'Socket errors|Non-2xx' "$OUT/$variant-$rep.wrk" | tr '\n' ' ' || true)
        echo "rep $rep $variant: ${rps:-0} requests/s $errs" | tee -a "$OUT/summary.txt"
        echo "$variant ${rps:-0}" >> "$OUT/rps.txt"
        bench_stop "$pid" 20
    done
done
for variant in plain park nopark; do
    echo "median $variant: $(awk -v v=$variant '$1 == v { print $2 }' "$OUT/rps.txt" | bench_median) requests/s" \
        | tee -a "$OUT/summary.txt"
done

if (( PARKED > 0 )); then
    start park parked-load
    pid=$BENCH_PID
    "$JAVA" -cp "$BENCH_JAR" io.prefork.bench.e2e.ParkedLoad "$PORT" "$pid" "$PARKED" "$PHASE" 2>&1 \
        | tee -a "$OUT/summary.txt"
    bench_stop "$pid" 20
fi
echo "output: $OUT"
