#!/usr/bin/env bash
# Boot time and RSS of the example workers (README, "Running an existing application", "Boot time and memory"):
# for each worker class, start the supervisor (2 workers, --concurrency 8) on a loopback port, wait for its ready
# line (deadline 60 s), print the two "ready in N ms" of its log and the workers' VmRSS, run 5 s of wrk -t1 -c8 on /
# (HTTP workers only), print VmRSS again, and stop it with TERM.
#
# Builds nothing: run `mvn -B -q -DskipTests package` first.
#
#   bench/scripts/example-footprint.sh
#   JAVA=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java bench/scripts/example-footprint.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
JAVA=${JAVA:-java}
PORT=${PORT:-18500}
OUT=${OUT:-$ROOT/bench/target/footprint-$(date +%Y%m%d-%H%M%S)}
command -v wrk > /dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
mkdir -p "$OUT"

rss() { # VmRSS in MB of each child of $1, joined with /
    local p out=()
    for p in $(pgrep -P "$1"); do out+=("$(awk '/VmRSS/ { print int($2 / 1024) }' "/proc/$p/status")"); done
    local IFS=/; echo "${out[*]}"
}

echo "$("$JAVA" -version 2>&1 | head -n 1); $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%F %H:%M UTC')"
for w in HelloHttpWorker LegacySocketWorker NettyWorker JettyWorker; do
    PORT=$((PORT + 1))
    setsid "$JAVA" -jar "$ROOT/supervisor/target/prefork-supervisor.jar" --listen "127.0.0.1:$PORT" --workers 2 \
        --concurrency 8 --worker-classpath "$ROOT/examples/target/prefork-examples.jar" \
        --worker "io.prefork.examples.$w" > "$OUT/$w.out" 2> "$OUT/$w.err" < /dev/null &
    pid=$!
    for _ in $(seq 1 600); do grep -q 'ready on' "$OUT/$w.out" && break; sleep 0.1; done
    grep -q 'ready on' "$OUT/$w.out" || { echo "$w: no ready line in 60 s (log: $OUT/$w.err)" >&2; kill -KILL -- "-$pid"; exit 1; }
    ready=$(grep -o 'ready in [0-9]* ms' "$OUT/$w.err" | awk '{ print $3 }' | paste -sd/)
    idle=$(rss "$pid")
    if [[ $w != LegacySocketWorker ]]; then wrk -t1 -c8 -d5s "http://127.0.0.1:$PORT/" > "$OUT/$w.wrk" 2>&1; fi
    echo "$w: ready in $ready ms; worker RSS MB idle $idle, after 5 s of load $(rss "$pid")"
    kill -TERM "$pid"
    wait "$pid" || true
done
