#!/usr/bin/env bash
# Worker spawn -> READY of two builds (or two sets of worker JVM options), interleaved pair by pair: the fair way to
# compare start-up on a machine others share, where single figures drift by 2x within minutes (bench/README.md).
# Each run is a fresh supervisor with WORKERS workers of HelloHttpWorker, stopped once its ready line is out; the
# figure is the supervisor's own "worker N (pid P) ready in X ms". The class-data archive the supervisor makes is
# trained by one untimed run of each side first (XDG_CACHE_HOME is $OUT/cache), so the pairs measure its use.
#
# Builds nothing. A and B are directories holding prefork-supervisor.jar, prefork-worker-runtime.jar and
# prefork-examples.jar (copies of a build's target/ jars: a build running meanwhile rewrites those in place).
#
#   A=/tmp/before B=/tmp/after bench/scripts/startup-ab.sh
#   A=/tmp/after B=/tmp/after B_OPTS="-XX:AOTCache=/tmp/w.aot" JAVA=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java \
#       bench/scripts/startup-ab.sh
#
# Environment (defaults in brackets): A, B (required); JAVA [java]; PAIRS [8]; WORKERS [1];
#   A_OPTS, B_OPTS [] extra --worker-jvm-option values (space-separated) for that side; OUT [bench/target/startup-ab-<time>]
# Run it under `flock /tmp/prefork-bench.lock` so that two benchmarks never overlap.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

A=${A:?A=directory of the first build\'s jars}
B=${B:?B=directory of the second build\'s jars}
JAVA=${JAVA:-java}
PAIRS=${PAIRS:-8}
WORKERS=${WORKERS:-1}
A_OPTS=${A_OPTS:-}
B_OPTS=${B_OPTS:-}
OUT=${OUT:-$ROOT/bench/target/startup-ab-$(date +%Y%m%d-%H%M%S)}
for v in PAIRS WORKERS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || bench_die "$v=${!v}: expected a positive integer"
done
for d in "$A" "$B"; do
    for j in prefork-supervisor.jar prefork-worker-runtime.jar prefork-examples.jar; do
        [[ -f $d/$j ]] || bench_die "$d/$j is missing: copy a build's supervisor/target and examples/target jars there"
    done
done
mkdir -p "$OUT/runs" "$OUT/cache"
export XDG_CACHE_HOME=$OUT/cache
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# One run; sets RUN_READY to the workers' ready times (ms), space-separated. Not to be called in $(...): the
# supervisor's process group must be known to this shell's cleanup if the script is stopped half-way.
run() {
    local dir=$1 opts=$2 log=$3
    local -a extra=()
    local o
    for o in $opts; do
        extra+=("--worker-jvm-option=$o")
    done
    bench_start "$log.out" "$log.err" "$JAVA" -jar "$dir/prefork-supervisor.jar" --listen 127.0.0.1:0 \
        --workers "$WORKERS" --worker-classpath "$dir/prefork-examples.jar" --worker io.prefork.examples.HelloHttpWorker \
        --graceful-timeout 5 "${extra[@]}"
    local pid=$BENCH_PID
    bench_wait_line "$log.out" 'ready on ' 60 "$pid" > /dev/null || bench_die "no ready line within 60 s: $log.err"
    bench_stop "$pid" 20
    RUN_READY=$(grep -oE 'ready in [0-9]+ ms' "$log.err" | awk '{ print $3 }' | paste -sd' ')
}

echo "startup-ab: $("$JAVA" -version 2>&1 | head -n 1); $(nproc) CPUs; $PAIRS pairs; $WORKERS workers; $(date -u +%FT%TZ)"
echo "A: $A ($(cat "$A/COMMIT" 2>/dev/null || echo "no COMMIT file")) options: ${A_OPTS:-none}"
echo "B: $B ($(cat "$B/COMMIT" 2>/dev/null || echo "no COMMIT file")) options: ${B_OPTS:-none}"
run "$A" "$A_OPTS" "$OUT/runs/train-a"
trained=$RUN_READY
run "$B" "$B_OPTS" "$OUT/runs/train-b"
echo "training runs (untimed): A $trained; B $RUN_READY"
printf 'side\tpair\tworker_ready_ms\n' > "$OUT/results.tsv"
faster=0
for ((i = 1; i <= PAIRS; i++)); do
    # Alternate which side goes first, so that neither always runs right after the other's stop.
    if ((i % 2)); then order="A B"; else order="B A"; fi
    declare -A got=()
    for side in $order; do
        if [[ $side == A ]]; then dir=$A opts=$A_OPTS; else dir=$B opts=$B_OPTS; fi
        run "$dir" "$opts" "$OUT/runs/$side-$i"
        got[$side]=$RUN_READY
        for ms in ${got[$side]}; do
            printf '%s\t%s\t%s\n' "$side" "$i" "$ms" >> "$OUT/results.tsv"
        done
    done
    a=$(tr ' ' '\n' <<< "${got[A]}" | bench_median)
    b=$(tr ' ' '\n' <<< "${got[B]}" | bench_median)
    (( $(awk -v a="$a" -v b="$b" 'BEGIN { print (b < a) }') )) && faster=$((faster + 1))
    echo "pair $i: A ${got[A]} ms, B ${got[B]} ms; load $(cut -d' ' -f1 /proc/loadavg)"
    unset got
done
ma=$(awk -F'\t' 'NR > 1 && $1 == "A" { print $3 }' "$OUT/results.tsv" | bench_median)
mb=$(awk -F'\t' 'NR > 1 && $1 == "B" { print $3 }' "$OUT/results.tsv" | bench_median)
echo "median worker spawn -> READY: A $ma ms, B $mb ms; B faster in $faster of $PAIRS pairs"
