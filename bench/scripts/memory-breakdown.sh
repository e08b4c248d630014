#!/usr/bin/env bash
# Where the memory of an idle worker and of the supervisor goes: one supervisor with MEM_WORKERS workers, both
# with Native Memory Tracking on, MEM_CONNECTIONS connections (Connection: close, spread over the workers), then,
# for the supervisor and for one worker: `jcmd VM.native_memory summary` (heap, metaspace and class space, code
# cache, thread stacks, GC structures, the compiler's arenas...), and the resident set from /proc/PID/smaps grouped
# by what is mapped (the CDS archives, libjvm.so, other files, anonymous memory: heap, stacks, malloc arenas).
# NMT costs a little memory itself (its own lines say how much); the RSS printed with it is not the figure to
# quote: startup.sh's memory phase (no NMT) is.
#
# Builds nothing: run `mvn -B -q -DskipTests package` first.
#
#   bench/scripts/memory-breakdown.sh
#   JDKS=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java WORKER_OPTS="-XX:TieredStopAtLevel=1" bench/scripts/memory-breakdown.sh
#
# Environment (defaults in brackets):
#   JDKS [JDK 17 and Temurin 25 java binaries]  space-separated java commands; workers run on the supervisor's JDK
#   MEM_WORKERS [8], MEM_CONNECTIONS [1000]
#   WORKER_OPTS []      extra --worker-jvm-option values (space-separated)
#   SUPERVISOR_OPTS []  extra JVM options for the supervisor (space-separated)
#   OUT [bench/target/memory-<time>]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

JDKS=${JDKS:-/usr/lib/jvm/java-17-openjdk-amd64/bin/java /usr/lib/jvm/temurin-25-jdk-amd64/bin/java}
MEM_WORKERS=${MEM_WORKERS:-8}
MEM_CONNECTIONS=${MEM_CONNECTIONS:-1000}
WORKER_OPTS=${WORKER_OPTS:-}
SUPERVISOR_OPTS=${SUPERVISOR_OPTS:-}
OUT=${OUT:-$ROOT/bench/target/memory-$(date +%Y%m%d-%H%M%S)}
WORKER_CLASS=io.prefork.examples.HelloHttpWorker

mkdir -p "$OUT"
bench_snapshot_jars "$OUT/jars" "$ROOT" > "$OUT/build.txt"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# Resident kB of /proc/$1/smaps by what is mapped, largest first.
smaps_groups() {
    awk '
        /^[0-9a-f]+-[0-9a-f]+ / {
            path = (NF >= 6) ? $6 : ""
            if (path ~ /\.jsa$/ || path ~ /\.aot$/) g = "CDS/AOT archive " path
            else if (path ~ /libjvm\.so$/) g = "libjvm.so"
            else if (path ~ /\[stack\]/) g = "[stack]"
            else if (path ~ /hsperfdata/) g = "hsperfdata"
            else if (path ~ /\.so/) g = "other shared libraries"
            else if (path ~ /\.jar$/ || path ~ /\/modules$/) g = "jars and the modules file"
            else if (path == "" || path ~ /^\[/) g = "anonymous (heap, stacks, malloc, metaspace, code cache)"
            else g = "other files"
            next
        }
        $1 == "Rss:" { rss[g] += $2 }
        $1 == "Pss:" { pss[g] += $2 }
        END { for (k in rss) printf "%8d kB RSS %8d kB PSS  %s\n", rss[k], pss[k], k }' "/proc/$1/smaps" | sort -rn
}

report() {
    local java=$1 pid=$2 what=$3 file=$4
    {
        echo "== $what (pid $pid): $(grep -E '^VmRSS' "/proc/$pid/status"), threads $(ls "/proc/$pid/task" | wc -l)"
        grep -E '^(Rss|Pss|Pss_Anon|Pss_File|Shared_Clean|Private_Dirty):' "/proc/$pid/smaps_rollup"
        echo "-- smaps by mapping"
        smaps_groups "$pid"
        echo "-- jcmd VM.native_memory summary"
        "$(dirname "$java")/jcmd" "$pid" VM.native_memory summary | sed -n '/^Total:/,$p'
    } > "$file"
}

for java in $JDKS; do
    major=$("$java" -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == 1 ? v[2] : v[1]); exit }')
    log=$OUT/jdk$major
    extra=("--worker-jvm-option=-XX:NativeMemoryTracking=summary")
    for o in $WORKER_OPTS; do
        extra+=("--worker-jvm-option=$o")
    done
    # shellcheck disable=SC2086 # SUPERVISOR_OPTS is a list of words
    bench_start "$log.out" "$log.err" "$java" -XX:NativeMemoryTracking=summary $SUPERVISOR_OPTS -jar "$SUPERVISOR_JAR" \
        --listen 127.0.0.1:0 --workers "$MEM_WORKERS" --worker-classpath "$EXAMPLES_JAR" --worker "$WORKER_CLASS" \
        --graceful-timeout 5 "${extra[@]}"
    pid=$BENCH_PID
    line=$(bench_wait_line "$log.out" 'ready on 127\.0\.0\.1:[0-9]+' 120 "$pid") \
        || { cat "$log.err" >&2; bench_die "JDK $major: no ready line"; }
    port=$(grep -oE '127\.0\.0\.1:[0-9]+' <<< "$line" | head -n 1 | cut -d: -f2)
    # The supervisor shrinks its own heap just after the ready line (OwnFootprint): read it after that, if it does,
    # and after G1's service thread has uncommitted the freed regions, which it does concurrently, in the next
    # seconds (the reading right after the log line still had them: 104 MiB against 66 to 77 later).
    bench_wait_line "$log.err" 'own footprint' 10 "$pid" > /dev/null || true
    sleep 5 # a reading of an idle process, not a wait for a state
    report "$java" "$pid" "JDK $major supervisor, idle, before any connection" "$log-supervisor-idle.txt"
    curl -sS --max-time 300 -o /dev/null -H 'Connection: close' "http://127.0.0.1:$port/[1-$MEM_CONNECTIONS]" \
        || bench_die "JDK $major: requests failed"
    sleep 2 # the workers go idle: a reading of idle processes, not a wait for a state
    # The smallest and the largest worker: their RSS differs by tens of MiB at times, and the difference is the point.
    read -r small large < <(for w in $(pgrep -P "$pid"); do
        echo "$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$w/status") $w"
    done | sort -n | awk 'NR == 1 { s = $2 } { l = $2 } END { print s, l }')
    report "$java" "$pid" "JDK $major supervisor after $MEM_CONNECTIONS connections" "$log-supervisor.txt"
    report "$java" "$small" "JDK $major smallest worker after $MEM_CONNECTIONS connections (of $MEM_WORKERS)" \
        "$log-worker-small.txt"
    report "$java" "$large" "JDK $major largest worker after $MEM_CONNECTIONS connections (of $MEM_WORKERS)" \
        "$log-worker-large.txt"
    bench_stop "$pid" 20
    head -n 1 "$log-supervisor-idle.txt" "$log-supervisor.txt" "$log-worker-small.txt" "$log-worker-large.txt"
done
echo "output in $OUT"
