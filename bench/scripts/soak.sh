#!/usr/bin/env bash
# Soak: DURATION seconds of load (wrk, one request per TCP connection, loopback only) against the supervisor with
# HelloHttpWorker, a worker killed with SIGKILL every KILL_EVERY seconds, and the supervisor's descriptors,
# threads, resident memory and children sampled every second into a CSV. Stops by itself; cleans up on any exit.
#
#   bench/scripts/soak.sh                      # 10 minutes (the default), JDK from $JAVA or the default java
#   DURATION=60 KILL_EVERY=3 bench/scripts/soak.sh
#
# Needs: the packaged jars (mvn -B -q -DskipTests package) and wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-600}
KILL_EVERY=${KILL_EVERY:-3}
WORKERS=${WORKERS:-2}
CONNECTIONS=${CONNECTIONS:-8}
JAVA=${JAVA:-java}
OUT=${OUT:-bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ).csv}
mkdir -p "$(dirname "$OUT")"
command -v wrk >/dev/null || { echo "soak: wrk is not installed (apt-get install wrk)" >&2; exit 2; }
[ -f supervisor/target/prefork-supervisor.jar ] || { echo "soak: build first: mvn -B -q -DskipTests package" >&2; exit 2; }

log=$(mktemp -t prefork-soak.XXXXXX)
sup=""; wrkpid=""
cleanup() {
  [ -n "$wrkpid" ] && kill "$wrkpid" 2>/dev/null || true
  if [ -n "$sup" ] && kill -0 "$sup" 2>/dev/null; then
    kill -TERM "$sup" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$sup" 2>/dev/null || break; sleep 0.1; done
    pkill -KILL -P "$sup" 2>/dev/null || true
    kill -KILL "$sup" 2>/dev/null || true
  fi
  rm -f "$log"
}
trap cleanup EXIT

"$JAVA" -jar supervisor/target/prefork-supervisor.jar --listen 127.0.0.1:0 --workers "$WORKERS" \
  --worker-classpath examples/target/prefork-examples.jar --worker io.prefork.examples.HelloHttpWorker \
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
  if [ "$t" -gt 0 ] && [ $((t % KILL_EVERY)) -eq 0 ]; then
    victim=$(pgrep -P "$sup" | shuf -n 1 || true)
    [ -n "$victim" ] && kill -KILL "$victim" 2>/dev/null && kills=$((kills + 1))
  fi
  sleep 1   # the sampling period
done
wait "$wrkpid" 2>/dev/null || true; wrkpid=""

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
echo "soak: supervisor log: $(grep -c 'killed by signal 9' "$log.err") worker deaths by SIGKILL logged, $(grep -c ' ready in ' "$log.err") workers became ready, $(grep -c 'ERROR' "$log.err") ERROR lines"
if [ -n "${KEEP_LOG:-}" ]; then cp "$log.err" "$KEEP_LOG"; echo "soak: supervisor log kept in $KEEP_LOG"; fi
rm -f "$log.err" "$log.wrk"
