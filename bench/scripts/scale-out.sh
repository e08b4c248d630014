#!/usr/bin/env bash
# Scale-out on one machine: two supervisors (HelloHttpWorker, 2 workers each) on loopback behind HAProxy, which
# checks each one's admin endpoint with GET /ready and sends PROXY protocol v2. Under wrk load through HAProxy, one
# supervisor is stopped gracefully (TERM): its /ready turns 503 at once, HAProxy drains it, and the load must see 0
# failed requests (no socket error, no non-2xx answer). Then, separately, the USR2 upgrade of the other one (see
# UPGRADE). Cleans up on any exit; exit status 1 if any request failed.
#
#   bench/scripts/scale-out.sh                    # 30 s of load, TERM to the first supervisor at second 10
#   DURATION=60 CONNECTIONS=16 bench/scripts/scale-out.sh
#
# Variables (all optional):
#   DURATION      seconds of load in each phase (default 30); the TERM comes at a third of it
#   CONNECTIONS   wrk's concurrent connections, each request on its own connection (default 8)
#   WORKERS       each supervisor's --workers (default 2)
#   JAVA          the java command for the supervisors (default java)
#   PROXY         1 (default): --proxy-protocol v2 and HAProxy send-proxy-v2; 0: neither
#   UPGRADE       1: also run the USR2 upgrade phase (supervisor a restarted first, so that HAProxy has two)
#   KEEP          a directory: keep the logs, the HAProxy config and wrk's output there
#
# Needs: the packaged jars (mvn -B -q -DskipTests package), haproxy (apt-get install haproxy), wrk, curl, python3
# (to find free ports).
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-30}
CONNECTIONS=${CONNECTIONS:-8}
WORKERS=${WORKERS:-2}
JAVA=${JAVA:-java}
PROXY=${PROXY:-1}
UPGRADE=${UPGRADE:-0}
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
[ -x "$HAPROXY" ] || { echo "scale-out: haproxy is not installed (apt-get install haproxy)" >&2; exit 2; }
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "scale-out: $tool is not installed" >&2; exit 2; }
done
for j in supervisor/target/prefork-supervisor.jar supervisor/target/prefork-worker-runtime.jar \
    examples/target/prefork-examples.jar; do
  [ -f "$j" ] || { echo "scale-out: $j is missing; build first: mvn -B -q -DskipTests package" >&2; exit 2; }
done

dir=$(mktemp -d -t prefork-scale-out.XXXXXX)
pids=()   # every process this script started, killed on exit if still alive
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    pkill -KILL -P "$p" 2>/dev/null || true
    kill -KILL "$p" 2>/dev/null || true
  done
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; cp -r "$dir"/. "$KEEP"/; fi
  rm -rf "$dir"
}
trap cleanup EXIT

# Copies of the jars, so a build during the run cannot change them under the JVMs. The runtime jar goes beside the
# supervisor jar, where the supervisor finds it for its workers.
cp supervisor/target/prefork-supervisor.jar supervisor/target/prefork-worker-runtime.jar \
  examples/target/prefork-examples.jar "$dir/"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

proxy_args=()
send_proxy=""
if [ "$PROXY" = 1 ]; then
  proxy_args=(--proxy-protocol v2)
  send_proxy="send-proxy-v2"
fi

# start_supervisor NAME [PORT ADMIN]: starts one (on free ports, or on those given: a restart behind the same
# HAProxy server line), waits for its ready line; sets NAME_pid, NAME_port, NAME_admin.
start_supervisor() {
  local name=$1 admin=${3:-} port pid
  [ -n "$admin" ] || admin=$(free_port)
  "$JAVA" -jar "$dir/prefork-supervisor.jar" --listen "127.0.0.1:${2:-0}" --workers "$WORKERS" \
    --worker-classpath "$dir/prefork-examples.jar" --worker io.prefork.examples.HelloHttpWorker \
    --admin "127.0.0.1:$admin" --graceful-timeout 30 --pid "$dir/$name.pid" ${proxy_args[@]+"${proxy_args[@]}"} \
    >"$dir/$name.out" 2>"$dir/$name.err" &
  pid=$!
  pids+=("$pid")
  port=""
  for _ in $(seq 1 900); do
    port=$(grep -o 'ready on 127.0.0.1:[0-9]*' "$dir/$name.out" 2>/dev/null | cut -d: -f2 || true)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "scale-out: supervisor $name exited:"; cat "$dir/$name.err"; exit 1; }
    sleep 0.1
  done
  [ -n "$port" ] || { echo "scale-out: supervisor $name: no ready line within 90 s" >&2; exit 1; }
  printf -v "${name}_pid" '%s' "$pid"
  printf -v "${name}_port" '%s' "$port"
  printf -v "${name}_admin" '%s' "$admin"
}

start_supervisor a
start_supervisor b
front=$(free_port)
stats=$(free_port)

# The HAProxy section of the README, on loopback: checks on /ready at the admin port, fall 1 (one 503 drains a
# server), and a failed connect retried on the other server. Until HAProxy's next check sees the 503 (inter 500ms),
# it still sends new connections to the stopping supervisor, which drops their SYNs while it drains its backlog
# (README, Signals: TERM); "timeout connect 500ms" gives up on such a connect after 500 ms instead of waiting for
# the SYN retransmit and the RST of the closed port, and "option redispatch" sends the retry to the other server
# (HAProxy waits min(timeout connect, 1 s) before a retry): about 1 s added to those few requests, none failed.
cat >"$dir/haproxy.cfg" <<CFG
global
    maxconn 1024
defaults
    mode tcp
    timeout connect 500ms
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch 1
frontend fe
    bind 127.0.0.1:$front
    default_backend prefork
backend prefork
    balance leastconn
    option httpchk GET /ready
    http-check expect status 200
    default-server check inter 500ms fall 1 rise 2 $send_proxy
    server a 127.0.0.1:$a_port check port $a_admin
    server b 127.0.0.1:$b_port check port $b_admin
listen stats
    mode http
    bind 127.0.0.1:$stats
    stats enable
    stats uri /stats
CFG
"$HAPROXY" -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
pids+=("$!")

# server_status NAME: HAProxy's view of a server (UP, DOWN, ...), from its stats CSV (field 18 is status).
server_status() {
  curl -s "http://127.0.0.1:$stats/stats;csv" | awk -F, -v s="$1" '$1 == "prefork" && $2 == s { print $18 }'
}
wait_status() {
  local name=$1 want=$2
  for _ in $(seq 1 300); do
    [ "$(server_status "$name")" = "$want" ] && return 0
    sleep 0.1
  done
  echo "scale-out: HAProxy never saw server $name $want (now: $(server_status "$name"))" >&2
  exit 1
}
wait_status a UP
wait_status b UP

# The client address through HAProxy: with PROXY protocol, curl's own port; without, HAProxy's.
seen=$(curl -s -D - -o /dev/null -w 'local_port=%{local_port}\n' "http://127.0.0.1:$front/")
echo "scale-out: through HAProxy: $(grep -i '^X-Client-Address' <<<"$seen" | tr -d '\r'); curl's $(grep local_port <<<"$seen")"

java_version=$("$JAVA" -version 2>&1 | head -n 1)
echo "scale-out: $(date -u +%FT%TZ), $java_version, $(nproc) CPUs; a on $a_port (admin $a_admin), b on $b_port" \
  "(admin $b_admin), HAProxy $("$HAPROXY" -v | head -n 1 | awk '{ print $3 }') on $front;" \
  "wrk -t1 -c$CONNECTIONS -d${DURATION}s --timeout 10s, one request per connection"

# run_load LABEL ACTION...: wrk for DURATION seconds; ACTION runs at a third of it. Prints the figures; returns the
# number of failed requests (socket errors + non-2xx) in $failed.
run_load() {
  local label=$1
  shift
  # --timeout 10s: wrk counts a request still unanswered after its timeout (default 2 s) as a socket error even if
  # it is answered later; the retried requests above take about 1 s, more on a loaded machine. The latency figures
  # (Max) show how slow the slowest was.
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s -H 'Connection: close' "http://127.0.0.1:$front/" \
    >"$dir/wrk-$label.txt" 2>&1 &
  local wrk_pid=$!
  pids+=("$wrk_pid")
  sleep $((DURATION / 3)) # a point in a fixed-length load run, not a wait for a condition
  "$@"
  wait "$wrk_pid" || true
  local requests errors non2xx
  requests=$(awk '/requests in/ { print $1 }' "$dir/wrk-$label.txt")
  errors=$(awk '/Socket errors/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$dir/wrk-$label.txt")
  non2xx=$(awk '/Non-2xx/ { print $NF }' "$dir/wrk-$label.txt")
  failed=$(( ${errors:-0} + ${non2xx:-0} ))
  echo "scale-out: $label: $requests requests in ${DURATION}s ($(awk '/Requests\/sec/ { print $2 }' \
    "$dir/wrk-$label.txt")/s, latency avg $(awk '/Latency/ { print $2 }' "$dir/wrk-$label.txt") max $(awk \
    '/Latency/ { print $4 }' "$dir/wrk-$label.txt")), socket errors ${errors:-0}, non-2xx ${non2xx:-0}: $failed failed"
}

stop_a() {
  local t0 t1
  t0=$(date +%s.%N)
  kill -TERM "$a_pid"
  wait_status a DOWN
  t1=$(date +%s.%N)
  echo "scale-out: TERM to supervisor a: HAProxy marked it DOWN after $(python3 -c "print(round($t1 - $t0, 2))") s"
  for _ in $(seq 1 600); do kill -0 "$a_pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$a_pid" 2>/dev/null && { echo "scale-out: supervisor a still running 60 s after TERM" >&2; exit 1; }
  wait "$a_pid" && code=0 || code=$?
  echo "scale-out: supervisor a exited $code, $(python3 -c "print(round($(date +%s.%N) - $t0, 2))") s after TERM"
}

run_load term stop_a
total_failed=$failed

# ---------------------------------------------------------------------------------------------------------------
# The USR2 upgrade of supervisor b under load (UPGRADE=1). USR2 makes a supervisor start a new one from the same
# jar and command line and hand it the listening sockets; the new one writes its pid to --pid once ready, and the
# old one drains and exits. Expected: 0 failed requests, as for the TERM phase; HAProxy's check port stays the same
# (--admin is part of the command line the new supervisor inherits).
# ---------------------------------------------------------------------------------------------------------------
upgrade_b() {
  local old new t0
  old=$(cat "$dir/b.pid")
  t0=$(date +%s.%N)
  kill -USR2 "$old"
  for _ in $(seq 1 900); do
    new=$(cat "$dir/b.pid" 2>/dev/null || true)
    [ -n "$new" ] && [ "$new" != "$old" ] && break
    sleep 0.1
  done
  [ "$new" != "$old" ] || { echo "scale-out: no new pid in b.pid 90 s after USR2" >&2; exit 1; }
  pids+=("$new")
  for _ in $(seq 1 600); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
  echo "scale-out: USR2 to supervisor b: new supervisor $new, old $old gone" \
    "$(python3 -c "print(round($(date +%s.%N) - $t0, 2))") s after USR2"
}
if [ "$UPGRADE" = 1 ]; then
  # Both behind HAProxy again, as in a rolling upgrade of a fleet: /ready of the supervisor being upgraded answers
  # 503 from the hand-over until its successor binds the admin port, so HAProxy drains it meanwhile, and with a
  # second server there is somewhere to send the load. (With b alone, every request in that gap fails: HAProxy has
  # no server; that is what /ready is for, not a lost connection.)
  rm -f "$dir/a.out"
  start_supervisor a "$a_port" "$a_admin"
  wait_status a UP
  run_load usr2 upgrade_b
  total_failed=$((total_failed + failed))
else
  echo "scale-out: USR2 upgrade phase skipped (UPGRADE=1 runs it)"
fi

if [ "$total_failed" -ne 0 ]; then
  echo "scale-out: FAILED: $total_failed failed request(s)" >&2
  exit 1
fi
echo "scale-out: OK: 0 failed requests"
