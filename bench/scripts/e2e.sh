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
#   PREFETCH [0]         prefork --prefetch (connections sent ahead to busy workers; PlainServer is unaffected)
#   QUIET_PCT [20], QUIET_WAIT [60]  before each run, wait up to QUIET_WAIT s for the machine to be at most
#                        QUIET_PCT % busy (another benchmark or build sharing the CPUs would skew the run)
#   OUT [bench/target/e2e-<time>]  where per-run logs and results.tsv go
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
PREFETCH=${PREFETCH:-0}
QUIET_PCT=${QUIET_PCT:-20}
QUIET_WAIT=${QUIET_WAIT:-60}
OUT=${OUT:-$ROOT/bench/target/e2e-$(date +%Y%m%d-%H%M%S)}

WORKER_CLASS=io.prefork.examples.HelloHttpWorker
CLK_TCK=$(getconf CLK_TCK)

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
printf 'rep\tvariant\trequests\tseconds\tconn_per_s\tp50_us\tp90_us\tp99_us\tcpu_us_per_conn\tsup_cpu_us_per_conn\tworkers_cpu_us_per_conn\tpassive_opens\terrors\tmachine_busy_pct\twrk_cpu_us_per_conn\tother_cpu_pct\tswitches_per_conn\n' > "$RESULTS"

# wrk prints latencies as 672.00us, 1.10ms or 1.02s: convert to microseconds.
to_us() {
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) m = 1; else if (v ~ /ms$/) m = 1000; else if (v ~ /s$/) m = 1000000;
        else m = 1; printf "%.0f\n", n * m }'
}

# Starts one variant; sets PID and PORT.
start_variant() {
    local variant=$1 log=$2
    case $variant in
        prefork)
            # --graceful-timeout 5 only bounds the stop at the end of a run; no connection is in flight by then.
            bench_start "$log.out" "$log.err" "$JAVA" -jar "$SUPERVISOR_JAR" --listen 127.0.0.1:0 \
                --workers "$WORKERS" --concurrency "$CONCURRENCY" --worker-classpath "$EXAMPLES_JAR" \
                --worker "$WORKER_CLASS" --graceful-timeout 5 --prefetch "$PREFETCH"
            ;;
        plain)
            bench_start "$log.out" "$log.err" "$JAVA" -cp "$BENCH_JAR:$EXAMPLES_JAR" io.prefork.bench.e2e.PlainServer \
                --listen 127.0.0.1:0 --threads $((WORKERS * CONCURRENCY)) --worker "$WORKER_CLASS"
            ;;
    esac
    PID=$BENCH_PID
    local line
    line=$(bench_wait_line "$log.out" 'ready on 127\.0\.0\.1:[0-9]+' 60 "$PID") \
        || { cat "$log.err" >&2; bench_die "$variant did not print its ready line within 60 s (log: $log.err)"; }
    PORT=$(sed -E 's/.*ready on 127\.0\.0\.1:([0-9]+).*/\1/' <<< "$line")
}

# CPU ticks of the server ($1) alone, and of its descendants, the context switches of all their threads, and the
# pids, as "self children switches pids".
tree_ticks() {
    local root=$1 self=0 kids=0 switches=0 pids="" p t
    for p in $(bench_tree "$root"); do
        t=$(bench_ticks "$p")
        [[ -n $t ]] || continue
        if [[ $p == "$root" ]]; then self=$t; else kids=$((kids + t)); fi
        switches=$((switches + $(bench_ctx_switches "$p")))
        pids+="$p,"
    done
    echo "$self $kids $switches $pids"
}

# Per-thread CPU ticks of the whole tree of $1, as "role<TAB>tid<TAB>name<TAB>ticks" (role: server or worker).
threads_snapshot() {
    local root=$1 p role
    for p in $(bench_tree "$root"); do
        if [[ $p == "$root" ]]; then role=server; else role=worker; fi
        bench_thread_ticks "$p" | sed "s/^/$role\t/"
    done
}

# CPU per connection by role and thread name, from two snapshots ($1, $2) and the request count ($3). Thread names
# with a number (prefork-handler-1, GC Thread#0, C2 CompilerThread1) are grouped without it.
threads_report() {
    awk -F'\t' -v n="$3" -v us=$((1000000 / CLK_TCK)) 'FNR == NR { before[$2] = $4; next }
        { d = $4 - ($2 in before ? before[$2] : 0); name = $3; gsub(/[-#]?[0-9]+$/, "", name)
          k = $1 "\t" name; t[k] += d; all += d }
        END { for (k in t) if (t[k] > 0) printf "%s\t%.1f\t%.0f%%\n", k, t[k] * us / n, 100 * t[k] / all }' "$1" "$2" \
        | sort -t$'\t' -k3,3 -g -r
}

run_once() {
    local rep=$1 variant=$2
    local log=$OUT/$rep-$variant
    bench_wait_quiet "$QUIET_PCT" "$QUIET_WAIT" || true
    start_variant "$variant" "$log"
    local url=http://127.0.0.1:$PORT/
    # A response from the server itself, not from whatever else might hold the port.
    curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$url" | grep -q 200 || bench_die "$variant: no 200 from $url"

    timeout $((WARMUP + 30)) wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" --timeout 5s -H 'Connection: close' "$url" \
        > "$log.warmup" 2>&1 || bench_die "$variant: warm-up wrk failed (log: $log.warmup)"

    local before after opens0 opens1 mach0 mach1 load0 load1
    threads_snapshot "$PID" > "$log.threads0"
    read -r -a before <<< "$(tree_ticks "$PID")"
    opens0=$(bench_passive_opens)
    bench_children_cpu_us load0
    read -r -a mach0 <<< "$(bench_machine_ticks)"
    timeout $((DURATION + 30)) wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s -H 'Connection: close' \
        --latency "$url" > "$log.wrk" 2>&1 || bench_die "$variant: wrk failed (log: $log.wrk)"
    read -r -a mach1 <<< "$(bench_machine_ticks)"
    bench_children_cpu_us load1
    opens1=$(bench_passive_opens)
    read -r -a after <<< "$(tree_ticks "$PID")"
    threads_snapshot "$PID" > "$log.threads1"
    [[ ${before[3]} == "${after[3]}" ]] \
        || echo "warning: $variant rep $rep: process tree changed during the run (${before[3]} -> ${after[3]}); a worker died?" >&2

    bench_stop "$PID" 20

    local requests seconds p50 p90 p99 errors
    requests=$(awk '/requests in/ { print $1 }' "$log.wrk")
    seconds=$(awk '/requests in/ { sub(/s,?$/, "", $4); print $4 }' "$log.wrk")
    p50=$(to_us "$(awk '$1 == "50%" { print $2 }' "$log.wrk")")
    p90=$(to_us "$(awk '$1 == "90%" { print $2 }' "$log.wrk")")
    p99=$(to_us "$(awk '$1 == "99%" { print $2 }' "$log.wrk")")
    # "Socket errors: connect 0, read 0, write 0, timeout 0" and "Non-2xx or 3xx responses: N", summed.
    errors=$(awk '/Socket errors/ { gsub(/,/, ""); s += $4 + $6 + $8 + $10 } /Non-2xx/ { s += $NF } END { print s + 0 }' "$log.wrk")
    [[ -n $requests && -n $seconds ]] || bench_die "$variant: cannot parse $log.wrk"

    { printf 'role\tthread\tcpu_us_per_conn\tshare\n'; threads_report "$log.threads0" "$log.threads1" "$requests"; } \
        > "$log.threads.tsv"
    local self=$((after[0] - before[0])) kids=$((after[1] - before[1]))
    awk -v rep="$rep" -v variant="$variant" -v n="$requests" -v s="$seconds" -v p50="$p50" -v p90="$p90" \
        -v p99="$p99" -v self="$self" -v kids="$kids" -v hz="$CLK_TCK" -v opens=$((opens1 - opens0)) \
        -v err="$errors" -v busy=$((mach1[0] - mach0[0])) -v total=$((mach1[1] - mach0[1])) \
        -v load=$((load1 - load0)) -v cs=$((after[2] - before[2])) 'BEGIN {
            us = 1000000 / hz
            # Whatever kept the CPUs busy besides the server tree and wrk (curl, this script, other jobs).
            other = busy * us - (self + kids) * us - load
            printf "%d\t%s\t%d\t%.2f\t%.0f\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%d\t%d\t%.0f\t%.1f\t%.0f\t%.1f\n", rep, variant, n,
                s, n / s, p50, p90, p99, (self + kids) * us / n, self * us / n, kids * us / n, opens, err,
                100 * busy / total, load / n, (other > 0 ? 100 * other / (total * us) : 0), cs / n
        }' >> "$RESULTS"
    tail -n 1 "$RESULTS" | awk -F'\t' '{ printf "rep %s %-7s %7s conn/s  p50 %6s us  p99 %6s us  %6s us CPU/conn  %5s switches/conn  opens/requests %.3f  errors %s  other CPU %s%%\n",
        $1, $2, $5, $6, $8, $9, $17, $12 / $3, $13, $16 }'
}

echo "e2e: $("$JAVA" -version 2>&1 | head -n 1); $(nproc) CPUs; $REPS reps x (prefork $WORKERS workers x concurrency" \
     "$CONCURRENCY, plain $((WORKERS * CONCURRENCY)) threads); ${WARMUP}s warm-up +" \
     "${DURATION}s measured; wrk -t1 -c$CONNECTIONS -H 'Connection: close'; logs in $OUT"
echo "$BUILD"
for ((rep = 1; rep <= REPS; rep++)); do
    # Alternate the order so that neither variant always runs on a machine that has just been busy.
    if ((rep % 2)); then order="prefork plain"; else order="plain prefork"; fi
    for variant in $order; do
        run_once "$rep" "$variant"
    done
done

# ---------------------------------------------------------------------------------------------------- summary
col() { # median of column $2 for variant $1
    awk -F'\t' -v v="$1" -v c="$2" 'NR > 1 && $2 == v { print $c }' "$RESULTS" | bench_median
}
# Median over repetitions of the per-repetition ratio prefork/plain of column $1 (the two ran back to back).
paired_ratio() {
    awk -F'\t' -v c="$1" 'NR > 1 { v[$1 "," $2] = $c; r[$1] = 1 }
        END { for (k in r) if ((k ",plain") in v && v[k ",plain"] > 0) print v[k ",prefork"] / v[k ",plain"] }' \
        "$RESULTS" | bench_median
}

{
    echo
    echo "Medians of $REPS interleaved repetitions ($("$JAVA" -version 2>&1 | head -n 1), $(nproc) CPUs, $(date -u +%F)):"
    echo "$BUILD"
    echo
    echo "| variant | conn/s | p50 us | p90 us | p99 us | CPU us/conn (server total) | of which supervisor | of which workers | context switches/conn | wrk CPU us/conn | machine busy % | other CPU % |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for v in prefork plain; do
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$v" "$(col $v 5)" "$(col $v 6)" \
            "$(col $v 7)" "$(col $v 8)" "$(col $v 9)" "$(col $v 10)" "$(col $v 11)" "$(col $v 17)" "$(col $v 15)" \
            "$(col $v 14)" "$(col $v 16)"
    done
    echo
    echo "(plain has no workers: its whole CPU is in the 'supervisor' column, which there means the one JVM)"
    echo
    cps=$(paired_ratio 5)
    cpu=$(paired_ratio 9)
    awk -v r="$cps" 'BEGIN { printf "conn/s   prefork/plain: %.2fx (target >= 0.90x): %s\n", r, (r >= 0.9 ? "met" : "MISSED") }'
    awk -v r="$cpu" 'BEGIN { printf "CPU/conn prefork/plain: %.2fx (target <= 1.50x): %s\n", r, (r <= 1.5 ? "met" : "MISSED") }'
    echo "(ratios: median over repetitions of prefork/plain within the same repetition)"
    echo
    echo "CPU us per connection by thread (median over repetitions; 'server' is the supervisor JVM, or PlainServer):"
    echo
    echo "| variant | process | thread | CPU us/conn |"
    echo "|---|---|---|---:|"
    for v in prefork plain; do
        cat "$OUT"/*-"$v".threads.tsv 2>/dev/null | awk -F'\t' 'NR > 0 && $1 != "role" { print $1 "\t" $2 }' | sort -u \
            | while IFS=$'\t' read -r role thread; do
                m=$(cat "$OUT"/*-"$v".threads.tsv | awk -F'\t' -v r="$role" -v t="$thread" '$1 == r && $2 == t { print $3 }' \
                    | bench_median)
                printf '| %s | %s | %s | %s |\n' "$v" "$role" "$thread" "$m"
            done | sort -t'|' -k5,5 -g -r | awk -F'|' '$5 + 0 >= 1'
    done
} | tee "$OUT/summary.md"
