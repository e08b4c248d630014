# Shared helpers for bench/scripts/e2e.sh, floor-e2e.sh and startup.sh. Sourced, not run.
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

# Copies the jars a benchmark runs into $1 and sets SUPERVISOR_JAR, RUNTIME_JAR, EXAMPLES_JAR and BENCH_JAR to the
# copies, so a build running at the same time (which rewrites target/*.jar in place) cannot change classes under a
# running JVM, and so class-data-sharing archives, which record the jars' paths, sizes and times, stay valid for the
# whole run.
# Prints one line naming the commit and the jars' checksums, for the record.
bench_snapshot_jars() {
    local dest=$1 root=$2 f
    mkdir -p "$dest"
    # The worker runtime jar goes beside the supervisor jar, as the build puts it: the workers run from it.
    for f in "$root/supervisor/target/prefork-supervisor.jar" "$root/supervisor/target/prefork-worker-runtime.jar" \
             "$root/examples/target/prefork-examples.jar" "$root/bench/target/benchmarks.jar"; do
        [[ -f $f ]] || bench_die "$f is missing; build first: cd $root && mvn -B -q -DskipTests package"
        cp -p "$f" "$dest/"
    done
    SUPERVISOR_JAR=$dest/prefork-supervisor.jar
    RUNTIME_JAR=$dest/prefork-worker-runtime.jar
    EXAMPLES_JAR=$dest/prefork-examples.jar
    BENCH_JAR=$dest/benchmarks.jar
    local commit dirty=""
    # Read-only git: no optional locks, so not even the index's stat cache is written.
    commit=$(GIT_OPTIONAL_LOCKS=0 git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [[ -n $(GIT_OPTIONAL_LOCKS=0 git -C "$root" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
        dirty=" (with uncommitted changes)"
    fi
    echo "build: commit $commit$dirty; sha256 $(cd "$dest" && sha256sum prefork-supervisor.jar prefork-worker-runtime.jar \
        prefork-examples.jar benchmarks.jar | awk '{ printf "%s %s  ", $2, substr($1, 1, 12) }')"
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

# ------------------------------------------------------------------ measured runs (e2e.sh, floor-e2e.sh)
# The functions below read the calling script's settings: OUT (per-run logs go to $OUT/REP-VARIANT.*), WARMUP and
# DURATION (seconds), CONNECTIONS (wrk -c), QUIET_PCT and QUIET_WAIT (see bench_wait_quiet), and BENCH_PERF: if 1,
# each measured run also counts system calls (perf stat -e raw_syscalls:sys_enter) of the server process and of its
# workers, in two perf processes attached for the measured seconds only. Counting a tracepoint costs each system
# call a little (well under a microsecond), the same for every variant.

# Clock ticks per second, the unit of utime and stime in /proc.
BENCH_CLK_TCK=$(getconf CLK_TCK)

# Writes the header line of a results.tsv ($1), one row per measured run (see bench_run_measured). Columns 18 on
# (max latency, context switches split by process, system calls) were added for design-e2e.sh; the syscall columns
# are "-" unless BENCH_PERF=1.
bench_results_header() {
    printf 'rep\tvariant\trequests\tseconds\tconn_per_s\tp50_us\tp90_us\tp99_us\tcpu_us_per_conn\tsup_cpu_us_per_conn\tworkers_cpu_us_per_conn\tpassive_opens\terrors\tmachine_busy_pct\twrk_cpu_us_per_conn\tother_cpu_pct\tswitches_per_conn\tmax_us\tsup_switches_per_conn\tworkers_switches_per_conn\tsup_syscalls_per_conn\tworkers_syscalls_per_conn\n' > "$1"
}

# wrk prints latencies as 672.00us, 1.10ms or 1.02s: convert to microseconds.
bench_to_us() {
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) m = 1; else if (v ~ /ms$/) m = 1000; else if (v ~ /s$/) m = 1000000;
        else m = 1; printf "%.0f\n", n * m }'
}

# Waits (60 s) for server $1 (named $3 in errors) to print "ready on 127.0.0.1:PORT" in $2.out; sets BENCH_PORT.
bench_await_ready() {
    local pid=$1 log=$2 name=$3 line
    line=$(bench_wait_line "$log.out" 'ready on 127\.0\.0\.1:[0-9]+' 60 "$pid") \
        || { cat "$log.err" >&2; bench_die "$name did not print its ready line within 60 s (log: $log.err)"; }
    BENCH_PORT=$(sed -E 's/.*ready on 127\.0\.0\.1:([0-9]+).*/\1/' <<< "$line")
}

# CPU ticks of the server ($1) alone, and of its descendants, the context switches of all their threads, the pids,
# and the context switches of the server's own threads, as "self children switches pids self_switches".
bench_tree_ticks() {
    local root=$1 self=0 children=0 switches=0 self_switches=0 pids="" p t c
    for p in $(bench_tree "$root"); do
        t=$(bench_ticks "$p")
        [[ -n $t ]] || continue
        if [[ $p == "$root" ]]; then self=$t; else children=$((children + t)); fi
        c=$(bench_ctx_switches "$p")
        switches=$((switches + c))
        [[ $p != "$root" ]] || self_switches=$c
        pids+="$p,"
    done
    echo "$self $children $switches $pids $self_switches"
}

# Per-thread CPU ticks of the whole tree of $1, as "role<TAB>tid<TAB>name<TAB>ticks" (role: server or worker).
bench_threads_snapshot() {
    local root=$1 p role
    for p in $(bench_tree "$root"); do
        if [[ $p == "$root" ]]; then role=server; else role=worker; fi
        bench_thread_ticks "$p" | sed "s/^/$role\t/"
    done
}

# CPU per connection by role and thread name, from two snapshots ($1, $2) and the request count ($3). Thread names
# with a number (prefork-handler-1, GC Thread#0, C2 CompilerThread1, plain-handler-1) are grouped without it.
bench_threads_report() {
    awk -F'\t' -v n="$3" -v us=$((1000000 / BENCH_CLK_TCK)) 'FNR == NR { before[$2] = $4; next }
        { d = $4 - ($2 in before ? before[$2] : 0); name = $3; gsub(/[-#]?[0-9]+$/, "", name)
          k = $1 "\t" name; t[k] += d; all += d }
        END { for (k in t) if (t[k] > 0) printf "%s\t%.1f\t%.0f%%\n", k, t[k] * us / n, 100 * t[k] / all }' "$1" "$2" \
        | sort -t$'\t' -k3,3 -g -r
}

# The header wrk sends with every request: one request per connection unless a script empties it (e2e-jetty.sh with
# KEEPALIVE=1: then wrk keeps its connections, and the "per connection" columns are per request).
BENCH_WRK_HEADERS=(-H 'Connection: close')

# WARMUP seconds of the benchmark's load on URL $1, output to $2.warmup; $3 names the variant in errors.
bench_warmup() {
    local url=$1 log=$2 name=$3
    timeout $((WARMUP + 30)) wrk -t"${WRK_THREADS:-1}" -c"$CONNECTIONS" -d"${WARMUP}s" --timeout 5s "${BENCH_WRK_HEADERS[@]}" "$url" \
        > "$log.warmup" 2>&1 || bench_die "$name: warm-up wrk failed (log: $log.warmup)"
}

# One measured run of variant $2 in repetition $1, appended as a row to results file $4. $3 is the function that
# starts a variant: called as "$3 VARIANT LOG", it leaves the server's pid in BENCH_PID and its port in BENCH_PORT.
# $5 is the printf format of the last column, switches per connection. Leaves no server running.
bench_run_measured() {
    local rep=$1 variant=$2 start=$3 results=$4 switches_fmt=$5
    local log=$OUT/$rep-$variant
    bench_wait_quiet "$QUIET_PCT" "$QUIET_WAIT" || true
    "$start" "$variant" "$log"
    local pid=$BENCH_PID url=http://127.0.0.1:$BENCH_PORT/
    # A response from the server itself, not from whatever else might hold the port.
    curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$url" | grep -q 200 || bench_die "$variant: no 200 from $url"

    bench_warmup "$url" "$log" "$variant"

    local before after opens0 opens1 mach0 mach1 load0 load1
    bench_threads_snapshot "$pid" > "$log.threads0"
    read -r -a before <<< "$(bench_tree_ticks "$pid")"
    local perf_pids=()
    if [[ ${BENCH_PERF:-0} == 1 ]]; then
        local workers_csv=${before[3]#"$pid",}
        perf stat -x, -e raw_syscalls:sys_enter -p "$pid" -o "$log.perf-server" > /dev/null 2>&1 &
        perf_pids+=($!)
        if [[ -n ${workers_csv%,} ]]; then
            perf stat -x, -e raw_syscalls:sys_enter -p "${workers_csv%,}" -o "$log.perf-workers" > /dev/null 2>&1 &
            perf_pids+=($!)
        fi
    fi
    opens0=$(bench_passive_opens)
    bench_children_cpu_us load0
    read -r -a mach0 <<< "$(bench_machine_ticks)"
    timeout $((DURATION + 30)) wrk -t"${WRK_THREADS:-1}" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s "${BENCH_WRK_HEADERS[@]}" \
        --latency "$url" > "$log.wrk" 2>&1 || bench_die "$variant: wrk failed (log: $log.wrk)"
    read -r -a mach1 <<< "$(bench_machine_ticks)"
    bench_children_cpu_us load1
    opens1=$(bench_passive_opens)
    read -r -a after <<< "$(bench_tree_ticks "$pid")"
    if ((${#perf_pids[@]})); then
        kill -INT "${perf_pids[@]}" 2>/dev/null || true
        wait "${perf_pids[@]}" 2>/dev/null || true
    fi
    bench_threads_snapshot "$pid" > "$log.threads1"
    [[ ${before[3]} == "${after[3]}" ]] \
        || echo "warning: $variant rep $rep: process tree changed during the run (${before[3]} -> ${after[3]}); a worker died?" >&2

    bench_stop "$pid" 20

    local requests seconds p50 p90 p99 errors
    requests=$(awk '/requests in/ { print $1 }' "$log.wrk")
    seconds=$(awk '/requests in/ { sub(/s,?$/, "", $4); print $4 }' "$log.wrk")
    p50=$(bench_to_us "$(awk '$1 == "50%" { print $2 }' "$log.wrk")")
    p90=$(bench_to_us "$(awk '$1 == "90%" { print $2 }' "$log.wrk")")
    p99=$(bench_to_us "$(awk '$1 == "99%" { print $2 }' "$log.wrk")")
    local max sys_server=-1 sys_workers=-1
    max=$(bench_to_us "$(awk '$1 == "Latency" && NF >= 4 { print $4; exit }' "$log.wrk")")
    # perf -x, lines: "count,unit,event,..."; "<not counted>" if the process went away.
    [[ ! -f $log.perf-server ]] || sys_server=$(awk -F, '$3 ~ /raw_syscalls/ && $1 ~ /^[0-9]+$/ { print $1 }' "$log.perf-server")
    [[ ! -f $log.perf-workers ]] || sys_workers=$(awk -F, '$3 ~ /raw_syscalls/ && $1 ~ /^[0-9]+$/ { print $1 }' "$log.perf-workers")
    # "Socket errors: connect 0, read 0, write 0, timeout 0" and "Non-2xx or 3xx responses: N", summed.
    errors=$(awk '/Socket errors/ { gsub(/,/, ""); s += $4 + $6 + $8 + $10 } /Non-2xx/ { s += $NF } END { print s + 0 }' "$log.wrk")
    [[ -n $requests && -n $seconds ]] || bench_die "$variant: cannot parse $log.wrk"

    { printf 'role\tthread\tcpu_us_per_conn\tshare\n'; bench_threads_report "$log.threads0" "$log.threads1" "$requests"; } \
        > "$log.threads.tsv"
    local self=$((after[0] - before[0])) children=$((after[1] - before[1]))
    awk -v rep="$rep" -v variant="$variant" -v n="$requests" -v s="$seconds" -v p50="$p50" -v p90="$p90" \
        -v p99="$p99" -v self="$self" -v kids="$children" -v hz="$BENCH_CLK_TCK" -v opens=$((opens1 - opens0)) \
        -v err="$errors" -v busy=$((mach1[0] - mach0[0])) -v total=$((mach1[1] - mach0[1])) \
        -v load=$((load1 - load0)) -v cs=$((after[2] - before[2])) -v csf="$switches_fmt" -v max="$max" \
        -v scs=$((after[4] - before[4])) -v sys_s="${sys_server:--1}" -v sys_w="${sys_workers:--1}" 'BEGIN {
            us = 1000000 / hz
            # Whatever kept the CPUs busy besides the server tree and wrk (curl, this script, other jobs).
            other = busy * us - (self + kids) * us - load
            printf "%d\t%s\t%d\t%.2f\t%.0f\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%d\t%d\t%.0f\t%.1f\t%.0f\t" csf, rep, variant, n,
                s, n / s, p50, p90, p99, (self + kids) * us / n, self * us / n, kids * us / n, opens, err,
                100 * busy / total, load / n, (other > 0 ? 100 * other / (total * us) : 0), cs / n
            printf "\t%d\t%.2f\t%.2f\t%s\t%s\n", max, scs / n, (cs - scs) / n, (sys_s < 0 ? "-" : sprintf("%.2f", sys_s / n)),
                (sys_w < 0 ? "-" : sprintf("%.2f", sys_w / n))
        }' >> "$results"
}

# ------------------------------------------------------------------ summaries (e2e.sh, floor-e2e.sh)

# Median over repetitions of column $3 of results file $1 for variant $2.
bench_col() {
    awk -F'\t' -v v="$2" -v c="$3" 'NR > 1 && $2 == v { print $c }' "$1" | bench_median
}

# Median over repetitions of the per-repetition ratio variant $3 / variant $4 of column $2 of results file $1.
bench_paired_ratio() {
    awk -F'\t' -v c="$2" -v a="$3" -v b="$4" 'NR > 1 { v[$1 "," $2] = $c; r[$1] = 1 }
        END { for (k in r) if ((k "," b) in v && (k "," a) in v && v[k "," b] > 0) print v[k "," a] / v[k "," b] }' \
        "$1" | bench_median
}

# Markdown table of the medians of results file $1 for each variant $3...; $2 names the server process's CPU column.
bench_medians_table() {
    local results=$1 sup=$2 v
    shift 2
    echo "| variant | conn/s | p50 us | p90 us | p99 us | CPU us/conn (server total) | of which $sup | of which workers | context switches/conn | wrk CPU us/conn | machine busy % | other CPU % |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for v in "$@"; do
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$v" "$(bench_col "$results" "$v" 5)" \
            "$(bench_col "$results" "$v" 6)" "$(bench_col "$results" "$v" 7)" "$(bench_col "$results" "$v" 8)" \
            "$(bench_col "$results" "$v" 9)" "$(bench_col "$results" "$v" 10)" "$(bench_col "$results" "$v" 11)" \
            "$(bench_col "$results" "$v" 17)" "$(bench_col "$results" "$v" 15)" "$(bench_col "$results" "$v" 14)" \
            "$(bench_col "$results" "$v" 16)"
    done
}

# The targets (conn/s >= 0.90x, CPU/conn <= 1.50x) of each variant $3... against variant $2, from results file $1.
bench_target_lines() {
    local results=$1 base=$2 v cps cpu
    shift 2
    for v in "$@"; do
        cps=$(bench_paired_ratio "$results" 5 "$v" "$base")
        cpu=$(bench_paired_ratio "$results" 9 "$v" "$base")
        awk -v v="$v/$base" -v r="$cps" 'BEGIN { printf "conn/s   %s: %.2fx (target >= 0.90x): %s\n", v, r, (r >= 0.9 ? "met" : "MISSED") }'
        awk -v v="$v/$base" -v r="$cpu" 'BEGIN { printf "CPU/conn %s: %.2fx (target <= 1.50x): %s\n", v, r, (r <= 1.5 ? "met" : "MISSED") }'
    done
}

# Markdown table of the median CPU us per connection by thread of each variant $3..., from the $1/*-VARIANT.threads.tsv
# of its runs; rows below $2 us/conn are left out.
bench_threads_table() {
    local dir=$1 min=$2 v role thread m
    shift 2
    echo "| variant | process | thread | CPU us/conn |"
    echo "|---|---|---|---:|"
    for v in "$@"; do
        cat "$dir"/*-"$v".threads.tsv 2>/dev/null | awk -F'\t' '$1 != "role" { print $1 "\t" $2 }' | sort -u \
            | while IFS=$'\t' read -r role thread; do
                m=$(cat "$dir"/*-"$v".threads.tsv | awk -F'\t' -v r="$role" -v t="$thread" '$1 == r && $2 == t { print $3 }' \
                    | bench_median)
                printf '| %s | %s | %s | %s |\n' "$v" "$role" "$thread" "$m"
            done | sort -t'|' -k5,5 -g -r | awk -F'|' -v min="$min" '$5 + 0 >= min'
    done
}

# ------------------------------------------------------------------ servers shared by design-e2e.sh and hol.sh

# Compiles bench/src/main/c/relay_floor.c of tree $1 and copies the binary into $2; sets RELAY_FLOOR_BIN to the copy
# (so a rebuild during the run cannot change it) and prints one line naming the compiler and the source's checksum.
bench_build_relay_floor() {
    local root=$1 dest=$2 src=$1/bench/src/main/c/relay_floor.c cc=${CC:-gcc}
    mkdir -p "$root/bench/target" "$dest"
    "$cc" -O2 -Wall -Wextra -Werror -pthread -o "$root/bench/target/relay_floor" "$src" \
        || bench_die "cannot compile $src"
    cp -p "$root/bench/target/relay_floor" "$dest/relay_floor"
    RELAY_FLOOR_BIN=$dest/relay_floor
    echo "relay_floor: $("$cc" --version | head -n 1); -O2; relay_floor.c sha256 $(sha256sum "$src" | cut -c1-12)"
}

# Copies the jars of an older build (directory $1 holding prefork-supervisor.jar, prefork-worker-runtime.jar and
# prefork-examples.jar, e.g. the target/ jars of a git worktree at that commit) into $2 and sets BASELINE_SUPERVISOR_JAR
# and BASELINE_EXAMPLES_JAR. Prints one line with the jars' checksums.
bench_snapshot_baseline() {
    local src=$1 dest=$2 f
    mkdir -p "$dest"
    for f in prefork-supervisor.jar prefork-worker-runtime.jar prefork-examples.jar; do
        [[ -f $src/$f ]] || bench_die "BASELINE_JAR=$src has no $f; see bench/README.md, 'a baseline build' (a git worktree at the old commit, mvn -B -q -DskipTests package there, then collect supervisor/target/prefork-supervisor.jar, supervisor/target/prefork-worker-runtime.jar and examples/target/prefork-examples.jar into one directory)"
        cp -p "$src/$f" "$dest/"
    done
    BASELINE_SUPERVISOR_JAR=$dest/prefork-supervisor.jar
    BASELINE_EXAMPLES_JAR=$dest/prefork-examples.jar
    echo "baseline: $(cat "$src/COMMIT" 2>/dev/null || echo "from $src"); sha256 $(cd "$dest" && sha256sum prefork-supervisor.jar \
        prefork-worker-runtime.jar prefork-examples.jar | awk '{ printf "%s %s  ", $2, substr($1, 1, 12) }')"
}

# The supervisor flags a prefork variant's name stands for: NAME ends in -pN for --prefetch N, in -x for the words of
# $PREFORK_ARGS (baseline variants: $BASELINE_ARGS, defaulting to PREFORK_ARGS); none for the default configuration.
bench_variant_flags() {
    local v=$1
    case $v in
        *-p[0-9]*) echo "--prefetch ${v##*-p}" ;;
        baseline-x) echo "${BASELINE_ARGS-${PREFORK_ARGS:-}}" ;;
        *-x) echo "${PREFORK_ARGS:-}" ;;
        *) echo "" ;;
    esac
}

# Starts one server variant, waits for its ready line, sets BENCH_PID and BENCH_PORT. $1 the variant, $2 the log
# prefix. Variants: c-direct and c-relay (relay_floor direct / relay with no prefetch: needs RELAY_FLOOR_BIN), c-plain
# (relay_floor plain), plain (PlainServer: needs BENCH_JAR), prefork[-pN|-x] (SUPERVISOR_JAR) and baseline[-pN|-x]
# (BASELINE_SUPERVISOR_JAR), all with WORKERS workers (or threads) serving HelloHttpWorker, concurrency CONCURRENCY
# (default 1), under JAVA.
bench_start_variant() {
    local variant=$1 log=$2 sup ex flags
    local worker=io.prefork.examples.HelloHttpWorker
    case $variant in
        c-direct) bench_start "$log.out" "$log.err" "$RELAY_FLOOR_BIN" direct "$WORKERS" 0 ;;
        c-relay) bench_start "$log.out" "$log.err" "$RELAY_FLOOR_BIN" relay "$WORKERS" 0 0 ;;
        c-plain) bench_start "$log.out" "$log.err" "$RELAY_FLOOR_BIN" plain "$WORKERS" 0 ;;
        plain)
            bench_start "$log.out" "$log.err" "$JAVA" -cp "$BENCH_JAR:$EXAMPLES_JAR" io.prefork.bench.e2e.PlainServer \
                --listen 127.0.0.1:0 --threads $((WORKERS * ${CONCURRENCY:-1})) --worker "$worker"
            ;;
        prefork | prefork-p[0-9]* | prefork-x | baseline | baseline-p[0-9]* | baseline-x)
            if [[ $variant == baseline* ]]; then
                [[ -n ${BASELINE_SUPERVISOR_JAR:-} ]] || bench_die "$variant needs BASELINE_JAR (a directory of older jars)"
                sup=$BASELINE_SUPERVISOR_JAR ex=$BASELINE_EXAMPLES_JAR
            else
                sup=$SUPERVISOR_JAR ex=$EXAMPLES_JAR
            fi
            read -r -a flags <<< "$(bench_variant_flags "$variant")"
            # --graceful-timeout 5 only bounds the stop at the end of a run; no connection is in flight by then.
            bench_start "$log.out" "$log.err" "$JAVA" -jar "$sup" --listen 127.0.0.1:0 --workers "$WORKERS" \
                --concurrency "${CONCURRENCY:-1}" --worker-classpath "$ex" --worker "$worker" --graceful-timeout 5 \
                "${flags[@]}"
            ;;
        *) bench_die "unknown variant $variant (c-direct, c-relay, c-plain, plain, prefork, prefork-pN, prefork-x, baseline, baseline-pN, baseline-x)" ;;
    esac
    bench_await_ready "$BENCH_PID" "$log" "$variant"
}

# The variants $@ in order for repetition $1: forwards in odd ones, backwards in even ones, so that no variant always
# runs on a machine that has just been busy.
bench_rep_order() {
    local rep=$1 i
    shift
    if ((rep % 2)); then echo "$@"; else for ((i = $#; i >= 1; i--)); do printf '%s ' "${!i}"; done; echo; fi
}
