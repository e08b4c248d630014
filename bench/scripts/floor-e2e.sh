#!/usr/bin/env bash
# The end-to-end benchmark's floor: e2e.sh's load and method applied to bench/src/main/c/relay_floor.c, the two
# architectures in C with no JVM. Answers whether the prefork design (supervisor accepts, hands each connection to a
# worker process over SOCK_SEQPACKET with SCM_RIGHTS, ACCEPTED and DONE reports back) can reach the targets of
# issue 5 on this machine at all: at least 0.9x the plain server's connections/s, at most 1.5x its CPU per connection.
#
# Variants, interleaved in alternating order (ABC, CBA, ...):
#   plain     relay_floor plain WORKERS 0         one process: accept4 thread + WORKERS handler threads (PlainServer)
#   relay-p0  relay_floor relay WORKERS 0 0       supervisor + WORKERS forked workers, 1 in flight per worker
#                                                 (prefork --concurrency 1)
#   relay-p1  relay_floor relay WORKERS 0 1       the same with one handoff prefetched: up to 2 in flight per worker
#
#   bench/scripts/floor-e2e.sh
#   REPS=3 DURATION=10 WARMUP=5 bench/scripts/floor-e2e.sh
#   STRACE_SECONDS=5 REPS=1 bench/scripts/floor-e2e.sh      # also count system calls per connection (strace -c -f)
#
# Run it under the shared benchmark lock, like the others: flock /tmp/prefork-bench.lock bench/scripts/floor-e2e.sh
#
# Environment (defaults in brackets):
#   REPS [5]             interleaved repetitions; each runs every variant
#   DURATION [10]        seconds measured per run
#   WARMUP [5]           seconds of the same load before measuring (no JIT here: this only settles caches, the
#                        backlog and the scheduler)
#   CONNECTIONS [16]     wrk connections (wrk -c), all from one wrk thread (-t1)
#   WORKERS [2]          relay workers; plain gets as many handler threads
#   QUIET_PCT [20], QUIET_WAIT [60]  before each run, wait up to QUIET_WAIT s for the machine to be at most
#                        QUIET_PCT % busy
#   STRACE_SECONDS [0]   if > 0: after the load runs, run each variant once more under the same load with
#                        `strace -c -f` attached to every process for this many seconds, and report system calls per
#                        connection (strace slows everything down: only the counts mean anything)
#   CC [gcc]             the compiler; the binary goes to bench/target/relay_floor and is copied to OUT
#   OUT [bench/target/floor-e2e-<time>]  where per-run logs, results.tsv and summary.md go
#
# Every run: start the server in its own process group, wait for its ready line, warm up, snapshot CPU ticks of the
# server's process tree (utime+stime from /proc, supervisor and workers), context switches, the kernel's TCP
# PassiveOpens and the machine's busy time, run `wrk -t1 -cC -dD -H 'Connection: close' --latency`, snapshot again,
# stop the server (SIGTERM, then SIGKILL of its process group after 20 s). Only 127.0.0.1 is ever used.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

REPS=${REPS:-5}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-5}
CONNECTIONS=${CONNECTIONS:-16}
WORKERS=${WORKERS:-2}
QUIET_PCT=${QUIET_PCT:-20}
QUIET_WAIT=${QUIET_WAIT:-60}
STRACE_SECONDS=${STRACE_SECONDS:-0}
CC=${CC:-gcc}
OUT=${OUT:-$ROOT/bench/target/floor-e2e-$(date +%Y%m%d-%H%M%S)}

VARIANTS=(plain relay-p0 relay-p1)
SRC=$ROOT/bench/src/main/c/relay_floor.c

command -v wrk > /dev/null || bench_die "wrk is not installed (apt-get install wrk)"
command -v "$CC" > /dev/null || bench_die "CC=$CC not found"
for v in REPS DURATION WARMUP CONNECTIONS WORKERS QUIET_PCT QUIET_WAIT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || bench_die "$v=${!v}: expected a positive integer"
done
[[ $STRACE_SECONDS =~ ^[0-9]+$ ]] || bench_die "STRACE_SECONDS=$STRACE_SECONDS: expected a number"
if ((STRACE_SECONDS > 0)); then
    command -v strace > /dev/null || bench_die "strace is not installed"
fi

mkdir -p "$OUT" "$ROOT/bench/target"
"$CC" -O2 -Wall -Wextra -Werror -pthread -o "$ROOT/bench/target/relay_floor" "$SRC" \
    || bench_die "cannot compile $SRC"
# Run a copy, so a rebuild (or a clean) during the run cannot change the binary under it.
BIN=$OUT/relay_floor
cp -p "$ROOT/bench/target/relay_floor" "$BIN"
BUILD="build: $("$CC" --version | head -n 1); -O2; relay_floor.c sha256 $(sha256sum "$SRC" | cut -c1-12);"
BUILD+=" commit $(GIT_OPTIONAL_LOCKS=0 git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "$BUILD" > "$OUT/build.txt"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

RESULTS=$OUT/results.tsv
bench_results_header "$RESULTS"

# Starts one variant; sets BENCH_PID and BENCH_PORT.
start_variant() {
    local variant=$1 log=$2
    case $variant in
        plain) bench_start "$log.out" "$log.err" "$BIN" plain "$WORKERS" 0 ;;
        relay-p0) bench_start "$log.out" "$log.err" "$BIN" relay "$WORKERS" 0 0 ;;
        relay-p1) bench_start "$log.out" "$log.err" "$BIN" relay "$WORKERS" 0 1 ;;
        *) bench_die "unknown variant $variant" ;;
    esac
    bench_await_ready "$BENCH_PID" "$log" "$variant"
}

run_once() {
    bench_run_measured "$1" "$2" start_variant "$RESULTS" %.2f
    tail -n 1 "$RESULTS" | awk -F'\t' '{ printf "rep %s %-8s %7s conn/s  p50 %5s us  p99 %6s us  %5s us CPU/conn (sup %s, workers %s)  %5s switches/conn  wrk %s us/conn  opens/requests %.3f  errors %s  other CPU %s%%\n",
        $1, $2, $5, $6, $8, $9, $10, $11, $17, $15, $12 / $3, $13, $16 }'
}

# System calls per connection of one variant: strace -c -f on every process of the tree for STRACE_SECONDS under the
# same load. Connections = successful accept4 calls in the server process (the supervisor, or plain's acceptor).
strace_once() {
    local variant=$1
    local log=$OUT/strace-$variant
    bench_wait_quiet "$QUIET_PCT" "$QUIET_WAIT" || true
    start_variant "$variant" "$log"
    local pid=$BENCH_PID url=http://127.0.0.1:$BENCH_PORT/ p role i=0 spids=()
    bench_warmup "$url" "$log" "$variant"
    timeout $((STRACE_SECONDS + 40)) wrk -t1 -c"$CONNECTIONS" -d"$((STRACE_SECONDS + 4))s" --timeout 5s \
        -H 'Connection: close' "$url" > "$log.wrk" 2>&1 &
    local wrk_pid=$!
    sleep 1
    for p in $(bench_tree "$pid"); do
        if [[ $p == "$pid" ]]; then role=server; else role=worker$((++i)); fi
        timeout -s INT "$STRACE_SECONDS" strace -c -f -p "$p" -o "$log.$role.txt" 2> /dev/null &
        spids+=($!)
    done
    wait "${spids[@]}" || true
    wait "$wrk_pid" || bench_die "$variant: wrk under strace failed (log: $log.wrk)"
    bench_stop "$pid" 20
    # strace -c rows: % time, seconds, usecs/call, calls, [errors,] syscall.
    local conns
    conns=$(awk '$NF == "accept4" || $NF == "accept" { c += $4 - (NF == 6 ? $5 : 0) } END { print c + 0 }' \
        "$log.server.txt")
    ((conns > 0)) || bench_die "$variant: no accepted connection under strace (log: $log.server.txt)"
    for f in "$log".*.txt; do
        role=${f#"$log."}
        role=${role%.txt}
        awk -v v="$variant" -v r="${role%%[0-9]*}" -v n="$conns" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
            printf "%s\t%s\t%s\t%d\t%d\t%d\n", v, r, $NF, $4, (NF == 6 ? $5 : 0), n }' "$f"
    done >> "$OUT/strace.tsv"
}

echo "floor-e2e: $(nproc) CPUs; $REPS reps x (${VARIANTS[*]}; $WORKERS workers / threads); ${WARMUP}s warm-up +" \
     "${DURATION}s measured; wrk -t1 -c$CONNECTIONS -H 'Connection: close'; logs in $OUT"
echo "$BUILD"
for ((rep = 1; rep <= REPS; rep++)); do
    # Alternate the order so that no variant always runs on a machine that has just been busy.
    if ((rep % 2)); then order="plain relay-p0 relay-p1"; else order="relay-p1 relay-p0 plain"; fi
    for variant in $order; do
        run_once "$rep" "$variant"
    done
done

if ((STRACE_SECONDS > 0)); then
    printf 'variant\trole\tsyscall\tcalls\terrors\tconnections\n' > "$OUT/strace.tsv"
    for variant in "${VARIANTS[@]}"; do
        strace_once "$variant"
    done
fi

# ---------------------------------------------------------------------------------------------------- summary
{
    echo
    echo "Medians of $REPS interleaved repetitions ($(nproc) CPUs, $(date -u +%F)), ${WARMUP}s warm-up + ${DURATION}s measured:"
    echo "$BUILD"
    echo
    bench_medians_table "$RESULTS" "supervisor / plain process" "${VARIANTS[@]}"
    echo
    bench_target_lines "$RESULTS" plain relay-p0 relay-p1
    echo "(ratios: median over repetitions of variant/plain within the same repetition)"
    echo
    echo "Every run:"
    echo
    echo "| rep | variant | conn/s | p50 us | p99 us | CPU us/conn | supervisor | workers | switches/conn | wrk CPU us/conn | other CPU % |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $5, $6, $8, $9, $10, $11, $17, $15, $16 }' "$RESULTS"
    echo
    echo "CPU us per connection by thread (median over repetitions; 'server' is the supervisor, or the plain process):"
    echo
    bench_threads_table "$OUT" 0 "${VARIANTS[@]}"
    if [[ -f $OUT/strace.tsv ]]; then
        echo
        echo "System calls per connection (strace -c -f, ${STRACE_SECONDS}s per variant under the same load; counts only;"
        echo "connections = successful accept4 in the server process; in brackets: of which failed, e.g. EAGAIN):"
        echo
        echo "| variant | process | calls/conn by system call | total |"
        echo "|---|---|---|---:|"
        awk -F'\t' 'NR > 1 { k = $1 "\t" $2; n[k] = $6; c[k, $3] += $4; e[k, $3] += $5; t[k] += $4; s[k] = s[k] " " $3; keys[k] = 1 }
            END { for (k in keys) {
                    split(k, kv, "\t"); line = ""; split(s[k], names, " "); delete seen
                    for (i in names) if (!(names[i] in seen)) { seen[names[i]] = 1; list[++m] = names[i] }
                    # by calls, descending
                    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (c[k, list[j]] > c[k, list[i]]) { x = list[i]; list[i] = list[j]; list[j] = x }
                    for (i = 1; i <= m; i++) {
                        r = c[k, list[i]] / n[k]; if (r < 0.005) continue
                        line = line sprintf("%s %.2f", list[i], r)
                        if (e[k, list[i]] > 0) line = line sprintf(" (%.2f)", e[k, list[i]] / n[k])
                        line = line ", "
                    }
                    sub(/, $/, "", line); m = 0
                    printf "| %s | %s | %s | %.1f |\n", kv[1], kv[2], line, t[k] / n[k]
                } }' "$OUT/strace.tsv" | sort
        echo
        echo "(workers: all worker processes together; connections per variant:"
        awk -F'\t' 'NR > 1 { n[$1] = $6 } END { for (v in n) printf " %s %d", v, n[v]; print ")" }' "$OUT/strace.tsv"
    fi
} | tee "$OUT/summary.md"
