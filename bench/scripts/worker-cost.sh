#!/usr/bin/env bash
# The worker's cost per connection, attributed (issue 11): one supervisor with WORKERS workers x concurrency 1 serving
# HelloHttpWorker under wrk -t2 -c64 -H 'Connection: close' (one request per connection), WARMUP seconds of load,
# then two measured runs of DURATION seconds each:
#   1. no tracer attached: CPU (utime+stime, /proc/PID/task/TID/stat) and context switches per connection of every
#      worker thread, summed over the workers by thread name;
#   2. perf stat --per-thread with one tracepoint counter per system call of interest (and raw_syscalls:sys_enter for
#      the total), attached to every worker thread: system calls per connection by thread name and call.
# Connections are wrk's completed requests of that run. perf counts in the kernel, so unlike strace it barely slows
# the worker; the list of calls is what `strace -f -p WORKER` showed on the receiving thread (see bench/README.md,
# "Issue 11: the worker's cost"); a call not in the list still counts in sys_enter, so "other" is the difference.
#
#   flock /tmp/prefork-bench.lock bench/scripts/worker-cost.sh
#   JAVA=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java OUT=/tmp/wc25 bench/scripts/worker-cost.sh
#
# Environment: JAVA [java], WORKERS [2], WARMUP [3], DURATION [6], PREFORK_ARGS [] (extra supervisor flags),
# OUT [bench/target/worker-cost-<time>] (logs, cpu.txt, syscalls.txt, summary.txt).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

JAVA=${JAVA:-java}
WORKERS=${WORKERS:-2}
WARMUP=${WARMUP:-3}
DURATION=${DURATION:-6}
OUT=${OUT:-$ROOT/bench/target/worker-cost-$(date +%Y%m%d-%H%M%S)}
CALLS="recvmsg sendmsg fcntl getsockname ioctl read write close poll futex shutdown dup dup3 mprotect gettid openat
       madvise clock_nanosleep sched_yield epoll_wait epoll_ctl mmap munmap"

command -v wrk > /dev/null || bench_die "wrk is not installed (apt-get install wrk)"
perf stat -e raw_syscalls:sys_enter -- true > /dev/null 2>&1 \
    || bench_die "'perf stat -e raw_syscalls:sys_enter' does not work here (install perf, or run as root)"
for v in WORKERS WARMUP DURATION; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || bench_die "$v=${!v}: expected a positive integer"
done
mkdir -p "$OUT"
bench_snapshot_jars "$OUT/jars" "$ROOT" > "$OUT/build.txt"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

read -r -a extra <<< "${PREFORK_ARGS:-}"
bench_start "$OUT/server.out" "$OUT/server.err" "$JAVA" -jar "$SUPERVISOR_JAR" --listen 127.0.0.1:0 \
    --workers "$WORKERS" --concurrency 1 --worker-classpath "$EXAMPLES_JAR" \
    --worker io.prefork.examples.HelloHttpWorker --graceful-timeout 5 "${extra[@]}"
SUP=$BENCH_PID
bench_await_ready "$SUP" "$OUT/server" prefork
URL=http://127.0.0.1:$BENCH_PORT/
WPIDS=$(bench_tree "$SUP" | grep -vx "$SUP" | tr '\n' ' ')
[[ -n $WPIDS ]] || bench_die "the supervisor (pid $SUP) has no worker processes"

load() { wrk -t2 -c64 -d"$1"s -H 'Connection: close' "$URL"; }
completed() { awk '/ requests in / { print $1 }' "$1"; }
# One line per worker thread: tid, name (spaces as _), CPU ticks, context switches.
threads() {
    local p t
    for p in $WPIDS; do
        for t in /proc/"$p"/task/*; do
            printf '%s %s %s %s\n' "${t##*/}" "$(tr ' ' _ < "$t/comm")" \
                "$(awk '{ print $14 + $15 }' "$t/stat")" "$(awk '/ctxt_switches/ { s += $2 } END { print s }' "$t/status")"
        done
    done
}

load "$WARMUP" > "$OUT/warmup.wrk"

threads > "$OUT/threads.before"
load "$DURATION" > "$OUT/cpu.wrk"
threads > "$OUT/threads.after"
n=$(completed "$OUT/cpu.wrk")
tick_us=$((1000000 / $(getconf CLK_TCK)))
join <(sort "$OUT/threads.before") <(sort "$OUT/threads.after") | awk -v n="$n" -v tick="$tick_us" '
    { cpu[$2] += ($6 - $3) * tick; sw[$2] += $7 - $4; all += ($6 - $3) * tick; allsw += $7 - $4 }
    END {
        printf "%-22s %10s %14s\n", "thread (all workers)", "us/conn", "switches/conn"
        for (k in cpu) if (cpu[k] > 0 || sw[k] > 0) printf "%-22s %10.2f %14.3f\n", k, cpu[k] / n, sw[k] / n
        printf "%-22s %10.2f %14.3f\n", "(all)", all / n, allsw / n
    }' > "$OUT/cpu.txt"

events=raw_syscalls:sys_enter
for c in $CALLS; do
    [[ -d /sys/kernel/tracing/events/syscalls/sys_enter_$c || -d /sys/kernel/debug/tracing/events/syscalls/sys_enter_$c ]] \
        && events+=",syscalls:sys_enter_$c"
done
tids=$(threads | awk '{ print $1 }' | paste -sd, -)
perf stat --per-thread -x, -e "$events" -t "$tids" -o "$OUT/perf.csv" -- sleep $((DURATION + 1)) &
perf_pid=$!
sleep 0.3
load "$DURATION" > "$OUT/syscalls.wrk"
wait "$perf_pid"
m=$(completed "$OUT/syscalls.wrk")
# perf -x, per thread: "name-tid,count,unit,event,...". Thread names lose what follows their first '-'.
awk -F, -v n="$m" '/sys_enter/ {
        name = $1; sub(/-[0-9]+$/, "", name); gsub(/ /, "_", name)
        ev = $4; sub(/.*:/, "", ev); sub(/^sys_enter_/, "", ev); if (ev == "sys_enter") ev = "(all)"
        c[name " " ev] += $2
    }
    END { for (k in c) if (c[k] > 0) { split(k, a, " "); printf "%-22s %-16s %9.3f\n", a[1], a[2], c[k] / n } }' \
    "$OUT/perf.csv" | sort -k1,1 -k3,3rn > "$OUT/syscalls.txt"

bench_stop "$SUP" 20
{
    echo "worker-cost: $("$JAVA" -version 2>&1 | head -n 1); $(date -u '+%Y-%m-%d %H:%M UTC'); $WORKERS workers x 1;" \
         "wrk -t2 -c64 'Connection: close'; ${WARMUP}s warm-up; PREFORK_ARGS='${PREFORK_ARGS:-}'"
    cat "$OUT/build.txt"
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "run 1 (no tracer): $n connections in ${DURATION}s, $(awk '/Requests\/sec/ { print $2 }' "$OUT/cpu.wrk") conn/s"
    cat "$OUT/cpu.txt"
    echo
    echo "run 2 (perf stat attached): $m connections, $(awk '/Requests\/sec/ { print $2 }' "$OUT/syscalls.wrk") conn/s;" \
         "system calls per connection"
    cat "$OUT/syscalls.txt"
} > "$OUT/summary.txt"
cat "$OUT/summary.txt"
