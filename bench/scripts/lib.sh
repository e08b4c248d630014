# Shared helpers for bench/scripts/e2e.sh and bench/scripts/startup.sh. Sourced, not run.
#
# Process handling: every server is started with setsid, so it leads a process group of its own that holds it and
# the worker JVMs it forks (ProcessBuilder keeps the parent's group). Stopping sends SIGTERM to the server alone
# (the supervisor then stops its workers itself, which is the path being measured), waits with a deadline, and
# only then SIGKILLs the whole group. The EXIT trap does the same for anything still running, so an interrupted or
# failing script leaves no JVM behind.

# All server process groups started by this script and not yet confirmed gone.
BENCH_GROUPS=()

bench_die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

# Monotonic-enough wall clock in microseconds, without forking (bash 5 $EPOCHREALTIME).
bench_now_us() {
    local t=${EPOCHREALTIME/[.,]/}
    echo "$t"
}

# Pids of $1 and all its descendants, one per line (from /proc, so nothing is missed between pgrep calls).
bench_tree() {
    local root=$1 pid rest f
    local -a w
    local -A kids=()
    for f in /proc/[0-9]*/stat; do
        # Field 2 (comm) is in parentheses and may contain spaces: cut after the last ')'.
        read -r rest < "$f" 2>/dev/null || continue
        pid=${rest%% *}
        read -r -a w <<< "${rest##*) }"
        kids[${w[1]}]+="$pid "
    done
    local queue=("$root") out=()
    while ((${#queue[@]})); do
        pid=${queue[0]}
        queue=("${queue[@]:1}")
        out+=("$pid")
        for f in ${kids[$pid]:-}; do
            queue+=("$f")
        done
    done
    printf '%s\n' "${out[@]}"
}

# utime+stime of one process (all its threads), in clock ticks; empty if it is gone.
bench_ticks() {
    local rest
    read -r rest < "/proc/$1/stat" 2>/dev/null || return 0
    rest=${rest##*) }
    # After comm: state(3) ppid(4) ... utime(14) stime(15) are words 12 and 13 of the rest.
    set -- $rest
    echo $(( ${12} + ${13} ))
}

# The TCP PassiveOpens counter of this network namespace: connections the kernel completed for listeners.
bench_passive_opens() {
    awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "PassiveOpens") c = i; h = 1 } else print $c }' \
        /proc/net/snmp
}

# Busy and total jiffies of the whole machine ("cpu" line of /proc/stat): prints "busy total".
bench_machine_ticks() {
    awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}

# Starts a server in its own process group. $1: stdout file (or FIFO), $2: stderr file, rest: the command.
# Sets BENCH_PID.
bench_start() {
    local out=$1 err=$2
    shift 2
    # In a non-interactive shell a background job is not a group leader, so setsid execs in place (no fork) and
    # $! is the JVM's own pid.
    setsid "$@" > "$out" 2> "$err" < /dev/null &
    BENCH_PID=$!
    BENCH_GROUPS+=("$BENCH_PID")
}

# Waits until file $1 has a line matching regex $2, or the deadline ($3 seconds) passes, or process $4 exits.
# Prints the matching line. Polls every 20 ms.
bench_wait_line() {
    local file=$1 re=$2 secs=$3 pid=$4 line
    local deadline=$(( $(bench_now_us) + secs * 1000000 ))
    while (( $(bench_now_us) < deadline )); do
        line=$(grep -m1 -E "$re" "$file" 2>/dev/null || true)
        if [[ -n $line ]]; then
            echo "$line"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.02
    done
    return 1
}

# Stops the server $1: SIGTERM to it alone, up to $2 seconds for the whole group to go, then SIGKILL to the group.
bench_stop() {
    local pid=$1 secs=${2:-20}
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$(( $(bench_now_us) + secs * 1000000 ))
    # Wait for the group, not just the leader: workers must be gone before the next run starts.
    while (( $(bench_now_us) < deadline )) && pgrep -g "$pid" > /dev/null 2>&1; do
        sleep 0.05
    done
    if pgrep -g "$pid" > /dev/null 2>&1; then
        echo "$(basename "$0"): process group $pid still running ${secs}s after SIGTERM; SIGKILL" >&2
        kill -KILL -- "-$pid" 2>/dev/null || true
        sleep 0.2
    fi
    wait "$pid" 2>/dev/null || true
    local g keep=()
    for g in "${BENCH_GROUPS[@]}"; do
        [[ $g == "$pid" ]] || keep+=("$g")
    done
    BENCH_GROUPS=("${keep[@]}")
}

# EXIT trap: kill whatever this script started and has not stopped yet.
bench_cleanup() {
    local g
    for g in "${BENCH_GROUPS[@]}"; do
        kill -KILL -- "-$g" 2>/dev/null || true
    done
    BENCH_GROUPS=()
}

# Median of the numbers on stdin (one per line; blank lines ignored); "-" if none.
bench_median() {
    sort -g | awk 'NF { v[n++] = $1 } END { if (!n) print "-"; else if (n % 2) print v[(n - 1) / 2];
        else printf "%.10g\n", (v[n / 2 - 1] + v[n / 2]) / 2 }'
}

# CPU time of this shell's waited-for children so far (bash `times`, second line), in microseconds, into the
# variable named $1. Not a function to call in $(...): a subshell starts with no children's time of its own.
bench_children_cpu_us() {
    local tmp
    tmp=$(mktemp)
    times > "$tmp"
    printf -v "$1" '%s' "$(tail -n 1 "$tmp" | awk '{ t = 0
        for (i = 1; i <= NF; i++) { split($i, ms, "m"); sub(/s$/, "", ms[2]); t += ms[1] * 60 + ms[2] }
        printf "%.0f\n", t * 1000000 }')"
    rm -f "$tmp"
}

# Waits (up to $2 seconds) until the machine has been at most $1 % busy over one second, so that a run does not
# start while something else (another benchmark, a build) holds the CPUs. Returns 1, after a warning, if the machine
# stayed busy; the caller goes on, and the run's "other CPU" column shows the interference.
bench_wait_quiet() {
    local max_pct=$1 secs=$2 a b pct=100
    local deadline=$(( $(bench_now_us) + secs * 1000000 ))
    while :; do
        read -r -a a <<< "$(bench_machine_ticks)"
        sleep 1
        read -r -a b <<< "$(bench_machine_ticks)"
        pct=$(( 100 * (b[0] - a[0]) / (b[1] - a[1] > 0 ? b[1] - a[1] : 1) ))
        ((pct <= max_pct)) && return 0
        if (( $(bench_now_us) >= deadline )); then
            echo "$(basename "$0"): warning: the machine is still ${pct}% busy after waiting ${secs}s for it to be quiet; going on" >&2
            return 1
        fi
    done
}

# Copies the jars a benchmark runs into $1 and sets SUPERVISOR_JAR, EXAMPLES_JAR and BENCH_JAR to the copies, so a
# build running at the same time (which rewrites target/*.jar in place) cannot change classes under a running JVM,
# and so class-data-sharing archives, which record the jars' paths, sizes and times, stay valid for the whole run.
# Prints one line naming the commit and the jars' checksums, for the record.
bench_snapshot_jars() {
    local dest=$1 root=$2 f
    mkdir -p "$dest"
    for f in "$root/supervisor/target/prefork-supervisor.jar" "$root/examples/target/prefork-examples.jar" \
             "$root/bench/target/benchmarks.jar"; do
        [[ -f $f ]] || bench_die "$f is missing; build first: cd $root && mvn -B -q -DskipTests package"
        cp -p "$f" "$dest/"
    done
    SUPERVISOR_JAR=$dest/prefork-supervisor.jar
    EXAMPLES_JAR=$dest/prefork-examples.jar
    BENCH_JAR=$dest/benchmarks.jar
    local commit dirty=""
    # Read-only git: no optional locks, so not even the index's stat cache is written.
    commit=$(GIT_OPTIONAL_LOCKS=0 git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [[ -n $(GIT_OPTIONAL_LOCKS=0 git -C "$root" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
        dirty=" (with uncommitted changes)"
    fi
    echo "build: commit $commit$dirty; sha256 $(cd "$dest" && sha256sum prefork-supervisor.jar prefork-examples.jar \
        benchmarks.jar | awk '{ printf "%s %s  ", $2, substr($1, 1, 12) }')"
}

# Context switches (voluntary + involuntary) of all live threads of process $1 so far.
bench_ctx_switches() {
    cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches:/ { s += $2 } END { print s + 0 }'
}

# One line per live thread of process $1: "tid<TAB>thread name<TAB>utime+stime ticks".
bench_thread_ticks() {
    local f rest name
    local -a w
    for f in /proc/"$1"/task/*/stat; do
        read -r rest < "$f" 2>/dev/null || continue
        name=${rest#*(}
        name=${name%)*}
        read -r -a w <<< "${rest##*) }"
        printf '%s\t%s\t%s\n' "${rest%% *}" "$name" $(( w[11] + w[12] ))
    done
}
