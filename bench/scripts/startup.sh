#!/usr/bin/env bash
# Start-up times: the supervisor from launch to its ready line, and each worker JVM from spawn to its READY frame
# (the supervisor's log line "worker N (pid P) ready in X ms"), per JDK, with and without a class-data-sharing
# archive for the workers. See bench/E2E.md for the figures.
#
# Builds nothing: run `mvn -B -q -DskipTests package` first.
#
#   bench/scripts/startup.sh
#   JDKS="/usr/lib/jvm/java-17-openjdk-amd64/bin/java" REPS=3 bench/scripts/startup.sh
#
# Environment (defaults in brackets):
#   JDKS [JDK 17 and Temurin 25 java binaries]  space-separated java commands; workers run on the supervisor's JDK
#   REPS [5]        repetitions per JDK and mode, interleaved (the order of modes rotates every repetition)
#   WORKERS [2]     workers per supervisor
#   MODES [default cds, plus aot on JDK 24+]     which worker JVM set-ups to measure:
#       default     the JDK's own CDS archive only (JDK classes; on by default since JDK 12)
#       cds         plus a dynamic AppCDS archive of the worker's classes: made once by a training run with
#                   --worker-jvm-option=-XX:ArchiveClassesAtExit=F, then used with
#                   --worker-jvm-option=-XX:SharedArchiveFile=F
#       aot         JDK 24+ only (JEP 483): an AOT cache (classes loaded and linked ahead of time), made by a
#                   training run with -XX:AOTMode=record -XX:AOTConfiguration=C, then java -XX:AOTMode=create, then
#                   used with --worker-jvm-option=-XX:AOTCache=F
#       noshare     -Xshare:off for workers: no archive at all, to show what the JDK's default archive buys
#       noauto      -Xshare:auto (the JDK's default) given by the user, which turns off the archive the supervisor
#                   makes and uses for workers by itself (default mode has it): what that archive buys.
#                   Archives are kept in $XDG_CACHE_HOME/prefork/cds (set XDG_CACHE_HOME for a clean start)
#   QUIET_PCT [20], QUIET_WAIT [30]  before each run, wait up to QUIET_WAIT s for the machine to be at most
#                   QUIET_PCT % busy
#   OUT [bench/target/startup-<time>]
#   PHASES [timing memory timeline]  which parts to run:
#       timing      the ready times above, per mode
#       memory      per JDK, default mode: MEM_WORKERS [8] workers serve MEM_CONNECTIONS [1000] connections (one
#                   curl, Connection: close, so each request is a new connection spread over the workers); then
#                   each worker's RSS, the total PSS of all workers (/proc/PID/smaps_rollup: pages shared between
#                   workers, a CDS archive's included, count once in total), and the supervisor's RSS
#       timeline    per JDK, default mode: one worker with -Xlog:startuptime (JDK 17: -Xlog:startuptime exists;
#                   both) and -Xlog:class+load with uptime, summarised as when the first/last class of each
#                   package group loaded (jnr, jffi, io.prefork, the JDK) against the worker's READY
#   WORKER_OPTS []  extra --worker-jvm-option values (space-separated) for every run, to compare JVM flags
#   SUPERVISOR_OPTS []  extra JVM options for the supervisor itself (space-separated)
#   MEM_SETTLE [2]  seconds between the memory phase's last connection and its reading: a worker's JIT may still be
#                   compiling (a large C2 compilation holds tens of MiB of native memory for a while) after 2 s
#
# Timing: the launch time is taken in this shell ($EPOCHREALTIME) just before the supervisor is forked; its stdout is
# a FIFO read by this shell, so the ready line is timed when it is written, not at the next poll. Only 127.0.0.1 is
# used; every supervisor is stopped with SIGTERM, then its process group is SIGKILLed after 20 s, and on any exit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

JDKS=${JDKS:-/usr/lib/jvm/java-17-openjdk-amd64/bin/java /usr/lib/jvm/temurin-25-jdk-amd64/bin/java}
REPS=${REPS:-5}
WORKERS=${WORKERS:-2}
QUIET_PCT=${QUIET_PCT:-20}
QUIET_WAIT=${QUIET_WAIT:-30}
OUT=${OUT:-$ROOT/bench/target/startup-$(date +%Y%m%d-%H%M%S)}
WORKER_CLASS=io.prefork.examples.HelloHttpWorker
PHASES=${PHASES:-timing memory timeline}
MEM_WORKERS=${MEM_WORKERS:-8}
MEM_CONNECTIONS=${MEM_CONNECTIONS:-1000}
WORKER_OPTS=${WORKER_OPTS:-}
SUPERVISOR_OPTS=${SUPERVISOR_OPTS:-}
MEM_SETTLE=${MEM_SETTLE:-2}
READY_DEADLINE_S=60

for v in REPS WORKERS QUIET_PCT QUIET_WAIT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || bench_die "$v=${!v}: expected a positive integer"
done
mkdir -p "$OUT"
bench_snapshot_jars "$OUT/jars" "$ROOT" > "$OUT/build.txt" # a redirected function still runs in this shell
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

RESULTS=$OUT/results.tsv
printf 'jdk\tmode\trep\tsupervisor_ready_ms\tsupervisor_listening_ms\tworker_ready_ms\n' > "$RESULTS"

jdk_major() {
    "$1" -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == 1 ? v[2] : v[1]); exit }'
}

# Worker JVM options for a mode, one per line, each already in --worker-jvm-option=... form.
mode_options() {
    local major=$1 mode=$2
    case $mode in
        default) ;;
        cds) echo "--worker-jvm-option=-XX:SharedArchiveFile=$OUT/archives/jdk$major-workers.jsa" ;;
        aot) echo "--worker-jvm-option=-XX:AOTCache=$OUT/archives/jdk$major-workers.aot" ;;
        noshare) echo "--worker-jvm-option=-Xshare:off" ;;
        noauto) echo "--worker-jvm-option=-Xshare:auto" ;; # the JDK's default, but a user CDS option: no supervisor archive
        *) bench_die "unknown mode $mode" ;;
    esac
}

# Starts a supervisor with stdout on a FIFO that this shell reads. Sets PID, FD, T0_US (launch time) and LOG.
launch() {
    local java=$1 log=$2
    shift 2
    LOG=$log
    rm -f "$log.fifo"
    mkfifo "$log.fifo"
    T0_US=$(bench_now_us)
    # The child's open of the FIFO for writing waits for our open for reading, just below: microseconds.
    local -a extra=()
    local o
    for o in $WORKER_OPTS; do
        extra+=("--worker-jvm-option=$o")
    done
    # shellcheck disable=SC2086 # SUPERVISOR_OPTS is a list of words
    bench_start "$log.fifo" "$log.err" "$java" $SUPERVISOR_OPTS -jar "$SUPERVISOR_JAR" --listen 127.0.0.1:0 --workers "$WORKERS" \
        --worker-classpath "$EXAMPLES_JAR" --worker "$WORKER_CLASS" --graceful-timeout 5 "${extra[@]}" "$@"
    PID=$BENCH_PID
    exec {FD}< "$log.fifo"
}

# Reads the supervisor's stdout until its ready line; sets READY_US and PORT. Fails on EOF or after the deadline.
await_ready() {
    local line deadline=$(( $(bench_now_us) + READY_DEADLINE_S * 1000000 )) left
    : > "$LOG.out"
    while :; do
        left=$(( (deadline - $(bench_now_us)) / 1000000 ))
        ((left > 0)) || return 1
        IFS= read -r -t "$left" -u "$FD" line || return 1
        READY_US=$(bench_now_us)
        printf '%s\n' "$line" >> "$LOG.out"
        if [[ $line =~ ready\ on\ 127\.0\.0\.1:([0-9]+) ]]; then
            PORT=${BASH_REMATCH[1]}
            return 0
        fi
    done
}

finish() {
    bench_stop "$PID" 20
    # Anything the JVMs wrote after the ready line (a CDS dump's messages, say) is kept with the log.
    timeout 5 cat <&"$FD" >> "$LOG.out" 2>/dev/null || true
    exec {FD}<&-
    rm -f "$LOG.fifo"
}

# "YYYY-mm-dd HH:MM:SS.mmm" at the start of the supervisor's "listening on" log line, as epoch microseconds.
listening_us() {
    local stamp
    stamp=$(grep -m1 -oE '^[0-9-]+ [0-9:]+\.[0-9]{3}(.*listening on)' "$1" | cut -c1-23) || return 0
    [[ -n $stamp ]] && echo "$(( $(date -d "$stamp" +%s%3N) * 1000 ))"
}

# A training run of one worker (so that one JVM writes the archive), with requests so that the handler's classes
# are loaded too, then a graceful stop, at whose exit the worker writes what its options asked for.
train() {
    local java=$1 log=$2
    shift 2
    local saved=$WORKERS
    WORKERS=1
    launch "$java" "$log" "$@"
    WORKERS=$saved
    await_ready || { cat "$log.err" >&2; bench_die "training run did not become ready (log: $log.err)"; }
    local i
    for ((i = 0; i < 50; i++)); do
        curl -sS --max-time 5 -o /dev/null -H 'Connection: close' "http://127.0.0.1:$PORT/" \
            || bench_die "training run: request failed"
    done
    finish
}

make_archives() {
    local java=$1 major=$2 modes=$3
    mkdir -p "$OUT/archives"
    if [[ " $modes " == *" cds "* ]]; then
        local jsa=$OUT/archives/jdk$major-workers.jsa
        train "$java" "$OUT/archives/jdk$major-train-cds" "--worker-jvm-option=-XX:ArchiveClassesAtExit=$jsa"
        [[ -s $jsa ]] || bench_die "JDK $major: the training run wrote no archive $jsa (log: $OUT/archives/jdk$major-train-cds.out)"
        echo "JDK $major: dynamic CDS archive $(du -h "$jsa" | cut -f1) at $jsa"
    fi
    if [[ " $modes " == *" aot "* ]]; then
        local aot=$OUT/archives/jdk$major-workers.aot conf=$OUT/archives/jdk$major-workers.aotconf
        train "$java" "$OUT/archives/jdk$major-train-aot" --worker-jvm-option=-XX:AOTMode=record \
            "--worker-jvm-option=-XX:AOTConfiguration=$conf"
        [[ -s $conf ]] || bench_die "JDK $major: the training run wrote no AOT configuration $conf"
        # The create step must see the worker's exact class path (the examples jar, then the worker runtime jar
        # beside the supervisor jar) and module options; it runs no application code.
        timeout 300 "$java" -XX:AOTMode=create "-XX:AOTConfiguration=$conf" "-XX:AOTCache=$aot" \
            --add-opens java.base/sun.nio.ch=ALL-UNNAMED --enable-native-access=ALL-UNNAMED \
            -cp "$EXAMPLES_JAR:$RUNTIME_JAR" > "$OUT/archives/jdk$major-create-aot.log" 2>&1 \
            || bench_die "JDK $major: creating the AOT cache failed (log: $OUT/archives/jdk$major-create-aot.log)"
        echo "JDK $major: AOT cache $(du -h "$aot" | cut -f1) at $aot"
    fi
}

# One run with class loading logged by each worker, to check that an archive is really used (a mismatched class
# path or JVM option makes the JVM ignore it silently, with -Xshare:auto, the default).
verify_mode() {
    local java=$1 major=$2 mode=$3
    local dir=$OUT/verify/jdk$major-$mode
    mkdir -p "$dir"
    local -a opts
    mapfile -t opts < <(mode_options "$major" "$mode")
    launch "$java" "$dir/run" "${opts[@]}" "--worker-jvm-option=-Xlog:class+load=info:file=$dir/classload-%p.log"
    await_ready || { cat "$dir/run.err" >&2; bench_die "JDK $major $mode: verification run did not become ready"; }
    finish
    local f total shared
    for f in "$dir"/classload-*.log; do
        total=$(grep -c 'source:' "$f" || true)
        shared=$(grep -c 'source: shared objects file' "$f" || true)
        echo "JDK $major $mode: worker $(basename "$f" .log | cut -d- -f2): $shared of $total classes loaded from an archive"
    done | tee -a "$OUT/verify.txt"
}

measure() {
    local java=$1 major=$2 mode=$3 rep=$4
    local -a opts
    mapfile -t opts < <(mode_options "$major" "$mode")
    bench_wait_quiet "$QUIET_PCT" "$QUIET_WAIT" || true
    launch "$java" "$OUT/runs/jdk$major-$mode-$rep" "${opts[@]}"
    if ! await_ready; then
        cat "$LOG.err" >&2
        bench_die "JDK $major $mode rep $rep: no ready line within ${READY_DEADLINE_S}s (log: $LOG.err)"
    fi
    finish
    local ready_ms=$(( (READY_US - T0_US) / 1000 )) listen listen_ms=""
    listen=$(listening_us "$LOG.err")
    [[ -n $listen ]] && listen_ms=$(( (listen - T0_US) / 1000 ))
    local w
    for w in $(grep -oE 'ready in [0-9]+ ms' "$LOG.err" | awk '{ print $3 }'); do
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$major" "$mode" "$rep" "$ready_ms" "$listen_ms" "$w" >> "$RESULTS"
    done
    printf 'JDK %s %-8s rep %s: supervisor ready %5s ms (listening at %s ms), workers ready in %s ms\n' "$major" "$mode" \
        "$rep" "$ready_ms" "$listen_ms" "$(grep -oE 'ready in [0-9]+ ms' "$LOG.err" | awk '{ print $3 }' | paste -sd/)"
}

kib() { # field $2 (kB) of /proc/$1/$3
    awk -v f="$2:" '$1 == f { print $2; exit }' "/proc/$1/$3" 2>/dev/null
}

# One supervisor with MEM_WORKERS workers; MEM_CONNECTIONS connections; then RSS and PSS (kB) into memory.tsv.
memory_run() {
    local java=$1 major=$2
    local dir=$OUT/memory
    mkdir -p "$dir"
    local saved=$WORKERS
    WORKERS=$MEM_WORKERS
    launch "$java" "$dir/jdk$major"
    WORKERS=$saved
    await_ready || { cat "$LOG.err" >&2; bench_die "JDK $major memory run did not become ready"; }
    curl -sS --max-time 300 -o /dev/null -H 'Connection: close' "http://127.0.0.1:$PORT/[1-$MEM_CONNECTIONS]" \
        || bench_die "JDK $major memory run: requests failed"
    sleep "$MEM_SETTLE" # the workers go idle: this is a reading of idle workers, not a wait for a state
    local pids pid rss pss total_pss=0 rss_list=""
    pids=$(pgrep -P "$PID" || true)
    for pid in $pids; do
        rss=$(kib "$pid" VmRSS status)
        pss=$(kib "$pid" Pss smaps_rollup)
        [[ -n $rss && -n $pss ]] || continue
        total_pss=$((total_pss + pss))
        rss_list+="$((rss / 1024)) "
        printf '%s\tworker\t%s\t%s\t%s\n' "$major" "$pid" "$rss" "$pss" >> "$OUT/memory.tsv"
    done
    local srss
    srss=$(kib "$PID" VmRSS status)
    printf '%s\tsupervisor\t%s\t%s\t\n' "$major" "$PID" "$srss" >> "$OUT/memory.tsv"
    finish
    printf 'JDK %s memory: %s workers after %s connections (+%s s): RSS MiB %s; total PSS %s MiB; supervisor RSS %s MiB\n' \
        "$major" "$(wc -w <<< "$pids")" "$MEM_CONNECTIONS" "$MEM_SETTLE" "$rss_list" "$((total_pss / 1024))" "$((srss / 1024))" \
        | tee -a "$OUT/memory.txt"
}

# One worker with -Xlog:startuptime and class loading logged with uptime; where the boot's time goes.
timeline_run() {
    local java=$1 major=$2
    local dir=$OUT/timeline/jdk$major
    mkdir -p "$dir"
    local saved=$WORKERS
    WORKERS=1
    launch "$java" "$dir/run" "--worker-jvm-option=-Xlog:class+load=info:file=$dir/classload.log:uptime" \
        "--worker-jvm-option=-Xlog:startuptime=info:file=$dir/startuptime.log:uptime"
    WORKERS=$saved
    await_ready || { cat "$LOG.err" >&2; bench_die "JDK $major timeline run did not become ready"; }
    finish
    local ready
    ready=$(grep -oE 'ready in [0-9]+ ms' "$LOG.err" | awk '{ print $3 }' | head -n 1)
    {
        echo "JDK $major timeline (uptime in s; worker READY after $ready ms from spawn):"
        awk '{
            t = $1; gsub(/[\[\]s]/, "", t)
            c = $0; sub(/^.*\] /, "", c); sub(/ .*/, "", c)
            g = "other"
            if (c ~ /^jnr\./) g = "jnr"; else if (c ~ /^com\.kenai\.jffi/) g = "jffi"
            else if (c ~ /^io\.prefork/) g = "io.prefork"; else if (c ~ /^(java|javax|jdk|sun|com\.sun)\./) g = "jdk"
            if (!(g in first)) first[g] = t
            last[g] = t; n[g]++
        } END { for (g in n) printf "  %-10s %4d classes, first %s s, last %s s\n", g, n[g], first[g], last[g] }' \
            "$dir/classload.log" | sort -k4
    } | tee -a "$OUT/timeline.txt"
}

echo "startup: $(nproc) CPUs; $REPS reps; $WORKERS workers; logs in $OUT"
cat "$OUT/build.txt"
mkdir -p "$OUT/runs"
declare -A JDK_MODES=()
for java in $JDKS; do
    "$java" -version > /dev/null 2>&1 || bench_die "$java does not run"
    major=$(jdk_major "$java")
    if [[ -n ${MODES:-} ]]; then
        modes=$MODES
    elif ((major >= 24)); then
        modes="default cds aot"
    else
        modes="default cds"
    fi
    if ((major < 24)) && [[ " $modes " == *" aot "* ]]; then
        modes=${modes//aot/}
        echo "JDK $major: no AOT cache before JDK 24; skipping mode aot"
    fi
    JDK_MODES[$java]=$modes
    echo "JDK $major ($("$java" -version 2>&1 | head -n 1)): modes $modes"
    if [[ " $PHASES " == *" memory "* ]]; then
        memory_run "$java" "$major"
    fi
    if [[ " $PHASES " == *" timeline "* ]]; then
        timeline_run "$java" "$major"
    fi
    [[ " $PHASES " == *" timing "* ]] || continue
    make_archives "$java" "$major" "$modes"
    for mode in $modes; do
        verify_mode "$java" "$major" "$mode"
    done
done
[[ " $PHASES " == *" timing "* ]] || exit 0

for ((rep = 1; rep <= REPS; rep++)); do
    for java in $JDKS; do
        major=$(jdk_major "$java")
        read -r -a m <<< "${JDK_MODES[$java]}"
        # Rotate the order of the modes every repetition.
        n=${#m[@]}
        for ((k = 0; k < n; k++)); do
            measure "$java" "$major" "${m[$(( (k + rep - 1) % n ))]}" "$rep"
        done
    done
done

# ---------------------------------------------------------------------------------------------------- summary
med() { # median of column $3 for jdk $1, mode $2; supervisor columns once per run (one row per worker)
    awk -F'\t' -v j="$1" -v m="$2" -v c="$3" 'NR > 1 && $1 == j && $2 == m && $c != "" {
        if (c == 6) print $c; else if (!seen[$3]++) print $c }' "$RESULTS" | bench_median
}
{
    echo
    echo "Medians of $REPS repetitions, $WORKERS workers, $(nproc) CPUs, $(date -u +%F); worker ready = median over all workers of all runs"
    cat "$OUT/build.txt"
    echo
    echo "| JDK | worker JVMs | supervisor launch -> ready line (ms) | supervisor launch -> listening (ms) | worker spawn -> READY (ms) |"
    echo "|---|---|---:|---:|---:|"
    for java in $JDKS; do
        major=$(jdk_major "$java")
        for mode in ${JDK_MODES[$java]}; do
            printf '| %s | %s | %s | %s | %s |\n' "$major" "$mode" "$(med "$major" "$mode" 4)" "$(med "$major" "$mode" 5)" \
                "$(med "$major" "$mode" 6)"
        done
    done
    echo
    cat "$OUT/verify.txt"
    [[ -f $OUT/memory.txt ]] && { echo; cat "$OUT/memory.txt"; }
    [[ -f $OUT/timeline.txt ]] && { echo; cat "$OUT/timeline.txt"; }
    echo
    echo "worker JVM options added: ${WORKER_OPTS:-none}"
} | tee "$OUT/summary.md"
