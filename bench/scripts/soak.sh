#!/usr/bin/env bash
# Soak: DURATION seconds of load (wrk, one request per TCP connection, loopback only) against the supervisor with
# HelloHttpWorker, a worker killed with SIGKILL every KILL_EVERY seconds, and the supervisor's descriptors,
# threads, resident memory and children sampled every second into a CSV. Stops by itself; cleans up on any exit.
#
#   bench/scripts/soak.sh                      # 10 minutes (the default), JDK from $JAVA or the default java
#   DURATION=60 KILL_EVERY=3 bench/scripts/soak.sh
#   DIAG=1 SUPERVISOR_JVM_OPTS="-Xms64m -Xmx64m -XX:+AlwaysPreTouch -XX:NativeMemoryTracking=summary" bench/scripts/soak.sh
#
# Variables (all optional):
#   DURATION             seconds of load and sampling (default 600)
#   KILL_EVERY           a random worker gets SIGKILL at every second divisible by this (default 3)
#   WORKERS              the supervisor's --workers (default 2)
#   CONNECTIONS          wrk's concurrent connections, each request on its own connection (default 8)
#   JAVA                 the java command for the supervisor; workers run on the same JDK (default java)
#   SUPERVISOR_JVM_OPTS  extra JVM options for the supervisor JVM, split on blanks, placed before -jar (default
#                        none; workers do not get them)
#   SUPERVISOR_ARGS      extra supervisor options, split on blanks, after the others (default none), e.g.
#                        SUPERVISOR_ARGS="--prefetch 8"
#   OUT                  the CSV (default bench/results/soak-<UTC time>.csv); columns second,fds,threads,rss_kb,
#                        children,kills
#   DIAG                 1: heap and native-memory diagnostics of the supervisor with jcmd (from the same JDK as
#                        $JAVA), once DIAG_AT seconds into the run (in the background, so sampling and kills go on)
#                        and once at the end, after the load and before SIGTERM. Each time: GC.run, then
#                        GC.class_histogram (its top 30 lines and the Total line; it does a full GC of its own) into
#                        <OUT without .csv>.histo-warmup.txt / .histo-end.txt, and GC.heap_info into .heap-warmup.txt
#                        / .heap-end.txt. If SUPERVISOR_JVM_OPTS has -XX:NativeMemoryTracking=summary (or =detail):
#                        VM.native_memory baseline at warm-up (.nmt-baseline.txt) and VM.native_memory summary.diff
#                        at the end (.nmt-diff.txt). Default off. The first jcmd makes the JVM start its
#                        "Attach Listener" thread and a listening socket, which stay: from then on threads and fds
#                        read one higher each.
#   DIAG_AT              seconds into the run for the warm-up diagnostics (default 30, the end of the warm-up)
#   KEEP_LOG             a path: keep the supervisor's log (its stderr) there
#
# The two jars are copied to a temporary directory first and run from there, so a rebuild of target/*.jar during
# the run cannot pull them from under the running JVMs; the directory is removed on exit.
#
# Needs: the packaged jars (mvn -B -q -DskipTests package) and wrk (apt-get install wrk); jcmd for DIAG=1.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-600}
KILL_EVERY=${KILL_EVERY:-3}
WORKERS=${WORKERS:-2}
CONNECTIONS=${CONNECTIONS:-8}
JAVA=${JAVA:-java}
SUPERVISOR_JVM_OPTS=${SUPERVISOR_JVM_OPTS:-}
SUPERVISOR_ARGS=${SUPERVISOR_ARGS:-}
DIAG=${DIAG:-}
DIAG_AT=${DIAG_AT:-30}
OUT=${OUT:-bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ).csv}
mkdir -p "$(dirname "$OUT")"
command -v wrk >/dev/null || { echo "soak: wrk is not installed (apt-get install wrk)" >&2; exit 2; }
[ -f supervisor/target/prefork-supervisor.jar ] || { echo "soak: build first: mvn -B -q -DskipTests package" >&2; exit 2; }
[ -f examples/target/prefork-examples.jar ] || { echo "soak: build first: mvn -B -q -DskipTests package" >&2; exit 2; }
[ -f supervisor/target/prefork-worker-runtime.jar ] || { echo "soak: build first: mvn -B -q -DskipTests package" >&2; exit 2; }
read -r -a jvm_opts <<<"$SUPERVISOR_JVM_OPTS"
read -r -a sup_args <<<"$SUPERVISOR_ARGS"
nmt=""
[[ " $SUPERVISOR_JVM_OPTS " =~ [[:space:]]-XX:NativeMemoryTracking=(summary|detail)[[:space:]] ]] && nmt=1
if [ "$DIAG" = 1 ]; then
  # jcmd of the JDK that runs the supervisor (a different JDK's jcmd may not attach).
  JCMD=$(dirname "$(readlink -f "$(command -v "$JAVA")")")/jcmd
  [ -x "$JCMD" ] || JCMD=$(command -v jcmd) || { echo "soak: DIAG=1 needs jcmd" >&2; exit 2; }
fi
diagbase=${OUT%.csv}

log=$(mktemp -t prefork-soak.XXXXXX)
jars=$(mktemp -d -t prefork-soak-jars.XXXXXX)
sup=""; wrkpid=""; diagpid=""
cleanup() {
  [ -n "$wrkpid" ] && kill "$wrkpid" 2>/dev/null || true
  if [ -n "$diagpid" ]; then pkill -P "$diagpid" 2>/dev/null || true; kill "$diagpid" 2>/dev/null || true; fi
  if [ -n "$sup" ] && kill -0 "$sup" 2>/dev/null; then
    kill -TERM "$sup" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$sup" 2>/dev/null || break; sleep 0.1; done
    pkill -KILL -P "$sup" 2>/dev/null || true
    kill -KILL "$sup" 2>/dev/null || true
  fi
  rm -f "$log" "$log.err" "$log.wrk"
  rm -rf "$jars"
}
trap cleanup EXIT

# Snapshot the jars; a copy taken while a build rewrites one may be torn, so check it is a whole zip, retry if not.
# The worker runtime jar goes beside the supervisor jar, as the build puts it: workers run from it.
for j in supervisor/target/prefork-supervisor.jar supervisor/target/prefork-worker-runtime.jar \
    examples/target/prefork-examples.jar; do
  for try in $(seq 1 30); do
    cp "$j" "$jars/" && unzip -tq "$jars/$(basename "$j")" >/dev/null 2>&1 && break
    [ "$try" -eq 30 ] && { echo "soak: could not copy a whole $j" >&2; exit 1; }
    sleep 2
  done
done

"$JAVA" ${jvm_opts[@]+"${jvm_opts[@]}"} -jar "$jars/prefork-supervisor.jar" --listen 127.0.0.1:0 --workers "$WORKERS" \
  --worker-classpath "$jars/prefork-examples.jar" --worker io.prefork.examples.HelloHttpWorker \
  ${sup_args[@]+"${sup_args[@]}"} \
  >"$log" 2>"$log.err" &
sup=$!
port=""
for _ in $(seq 1 600); do
  port=$(grep -o 'ready on 127.0.0.1:[0-9]*' "$log" 2>/dev/null | cut -d: -f2 || true)
  [ -n "$port" ] && break
  kill -0 "$sup" 2>/dev/null || { echo "soak: supervisor exited:"; cat "$log.err"; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "soak: no ready line within 60 s" >&2; exit 1; }
echo "soak: supervisor pid $sup on port $port; $DURATION s, a worker killed every $KILL_EVERY s; samples in $OUT"

# diag PHASE: GC.run, the class histogram (top 30 lines and the Total line) and heap_info, and NMT (baseline at
# warm-up, summary.diff at the end). A failing jcmd is noted in the file and does not stop the soak.
diag() {
  local phase=$1 t=$2 h
  h="# soak DIAG $phase, second $t of $DURATION, supervisor pid $sup, $(date -u +%FT%TZ)"
  { echo "$h"; echo "# jcmd $sup GC.run"; "$JCMD" "$sup" GC.run 2>&1 || echo "# jcmd failed"
    echo "# jcmd $sup GC.class_histogram (top 30 lines and the Total line)"
    "$JCMD" "$sup" GC.class_histogram >"$diagbase.histo-$phase.tmp" 2>&1 || echo "# jcmd failed"
    head -n 30 "$diagbase.histo-$phase.tmp"; grep '^Total ' "$diagbase.histo-$phase.tmp" || true
    rm -f "$diagbase.histo-$phase.tmp"; } >"$diagbase.histo-$phase.txt"
  { echo "$h"; echo "# jcmd $sup GC.heap_info"; "$JCMD" "$sup" GC.heap_info 2>&1 || echo "# jcmd failed"; } \
    >"$diagbase.heap-$phase.txt"
  if [ -n "$nmt" ] && [ "$phase" = warmup ]; then
    { echo "$h"; echo "# jcmd $sup VM.native_memory baseline"; "$JCMD" "$sup" VM.native_memory baseline 2>&1 \
      || echo "# jcmd failed"; } >"$diagbase.nmt-baseline.txt"
  elif [ -n "$nmt" ]; then
    { echo "$h"; echo "# jcmd $sup VM.native_memory summary.diff"; "$JCMD" "$sup" VM.native_memory summary.diff 2>&1 \
      || echo "# jcmd failed"; } >"$diagbase.nmt-diff.txt"
  fi
}

wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -H 'Connection: close' "http://127.0.0.1:$port/" >"$log.wrk" 2>&1 &
wrkpid=$!

echo "second,fds,threads,rss_kb,children,kills" >"$OUT"
kills=0
start=$(date +%s)
while :; do
  now=$(date +%s); t=$((now - start))
  [ "$t" -ge "$DURATION" ] && break
  fds=$(ls "/proc/$sup/fd" | wc -l)
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$sup/status")
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$sup/status")
  children=$(pgrep -P "$sup" | wc -l)
  echo "$t,$fds,$threads,$rss,$children,$kills" >>"$OUT"
  if [ "$DIAG" = 1 ] && [ -z "$diagpid" ] && [ "$t" -ge "$DIAG_AT" ]; then
    diag warmup "$t" & diagpid=$!
  fi
  if [ "$t" -gt 0 ] && [ $((t % KILL_EVERY)) -eq 0 ]; then
    victim=$(pgrep -P "$sup" | shuf -n 1 || true)
    [ -n "$victim" ] && kill -KILL "$victim" 2>/dev/null && kills=$((kills + 1))
  fi
  sleep 1   # the sampling period
done
wait "$wrkpid" 2>/dev/null || true; wrkpid=""
if [ "$DIAG" = 1 ]; then
  [ -n "$diagpid" ] && { wait "$diagpid" || true; }; diagpid=""
  [ -f "$diagbase.histo-warmup.txt" ] || echo "soak: no warm-up diagnostics (DURATION <= DIAG_AT?)" >&2
  diag end "$(( $(date +%s) - start ))"
  echo "soak: diagnostics in $diagbase.{histo,heap}-{warmup,end}.txt$([ -n "$nmt" ] && echo " and $diagbase.nmt-{baseline,diff}.txt")"
fi

kill -TERM "$sup"
for _ in $(seq 1 600); do kill -0 "$sup" 2>/dev/null || break; sleep 0.1; done
code=0; wait "$sup" || code=$?
sup_pid=$sup; sup=""
left=$(pgrep -f "WorkerMain" | xargs -r ps -o ppid= -p 2>/dev/null | grep -cw "$sup_pid" || true)

summ() { awk -F, -v c="$1" 'NR==2{first=$c; min=$c; max=$c} NR>1{if($c<min)min=$c; if($c>max)max=$c; last=$c} END{printf "first %s, min %s, max %s, last %s", first, min, max, last}' "$OUT"; }
# The first 30 s are warm-up (JIT, class loading, lazily opened files): judge growth after them.
settled() { awk -F, -v c="$1" 'NR>1 && $1>=30 {if(!n++){first=$c} last=$c} END{printf "%s -> %s", first, last}' "$OUT"; }
echo "soak: $kills workers killed; supervisor exit code $code; worker processes left: ${left:-0}"
echo "soak: descriptors  $(summ 2); after warm-up $(settled 2)"
echo "soak: threads      $(summ 3); after warm-up $(settled 3)"
echo "soak: RSS (KiB)    $(summ 4); after warm-up $(settled 4)"
echo "soak: wrk:"; sed 's/^/  /' "$log.wrk"
# "(pid N) killed by signal 9": one line per death (a death seen first as a lost channel adds a "lost: killed by
# signal 9" line, not counted).
echo "soak: supervisor log: $(grep -cE '\(pid [0-9]+\) killed by signal 9' "$log.err") worker deaths by SIGKILL logged, $(grep -c ' ready in ' "$log.err") workers became ready, $(grep -c 'ERROR' "$log.err") ERROR lines"
if [ -n "${KEEP_LOG:-}" ]; then cp "$log.err" "$KEEP_LOG"; echo "soak: supervisor log kept in $KEEP_LOG"; fi
rm -f "$log.err" "$log.wrk"
