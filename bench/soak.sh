#!/usr/bin/env bash
# Soak test: WARMUP seconds (15), then DURATION seconds (60) of mixed valid and hostile traffic at
# CONNECTIONS (16) connections on 127.0.0.1 against gunicorn with WORKERS (2)
# workers. Prints the requests, the answers by status code, the 5xx count
# (must be 0) and each worker's resident memory at start and end.
#
#   bench/soak.sh                 # DURATION=60 CONNECTIONS=16 WORKERS=2
#   DURATION=20 bench/soak.sh
#
# Rate limiting is off (RATELIMIT_ENABLED=0; set it to 1 to soak the limiter
# instead) and workers are not recycled (GUNICORN_MAX_REQUESTS=0), so that the
# memory figures are those of the same two processes.
set -euo pipefail

DURATION=${DURATION:-60}
WARMUP=${WARMUP:-15}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
WORKERS=${WORKERS:-2}
MAX_UPLOAD_BYTES=${MAX_UPLOAD_BYTES:-2097152}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python}

if ! command -v wrk >/dev/null; then
  echo "installing wrk" >&2
  apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/soak.XXXXXX")
MASTER=""
cleanup() {
  if [[ -n "$MASTER" ]] && kill -0 "$MASTER" 2>/dev/null; then
    kill -TERM "$MASTER" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$MASTER" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$MASTER" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
(cd "$ROOT" && "$PYTHON" -m bench.soak_bodies "$WORK/bodies" "$MAX_UPLOAD_BYTES")

cd "$ROOT"
STORAGE_DIR="$WORK/storage" SECRET_KEY=soak RATELIMIT_ENABLED=${RATELIMIT_ENABLED:-0} \
  MAX_UPLOAD_BYTES="$MAX_UPLOAD_BYTES" WEB_CONCURRENCY="$WORKERS" GUNICORN_THREADS=1 \
  GUNICORN_BIND="127.0.0.1:$PORT" GUNICORN_ACCESS_LOG="" GUNICORN_MAX_REQUESTS=0 \
  LOG_LEVEL=warning \
  "$PYTHON" -m gunicorn -c gunicorn.conf.py 'app:create_app()' >"$WORK/gunicorn.log" 2>&1 &
MASTER=$!

# Ready when the model answers (the first start trains it) in every worker.
for _ in $(seq 600); do
  if curl -sf -o /dev/null "$BASE/readyz"; then break; fi
  kill -0 "$MASTER" 2>/dev/null || { cat "$WORK/gunicorn.log"; exit 1; }
  sleep 0.5
done
# A warm-up of the same traffic first: what a worker loads once (the model, scipy
# for the first number it splits) and its allocator's high-water mark under
# the heaviest bodies are not growth; what still grows after is.
SOAK_BODIES="$WORK/bodies" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" --timeout 30s \
  -s "$ROOT/bench/soak.lua" "$BASE" >"$WORK/warmup.out"

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
WORKER_PIDS=$(pgrep -P "$MASTER" | sort -n | tr '\n' ' ')
declare -A START_RSS
for pid in $WORKER_PIDS; do START_RSS[$pid]=$(rss_kib "$pid"); done

echo "soak: ${DURATION}s, $CONNECTIONS connections, $WORKERS workers (pids $WORKER_PIDS) at $BASE"
echo "bodies: $(cut -f1 "$WORK/bodies/index.tsv" | tr '\n' ' ')"
SOAK_BODIES="$WORK/bodies" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 30s \
  -s "$ROOT/bench/soak.lua" "$BASE" | tee "$WORK/wrk.out"

echo "worker resident memory (RSS):"
for pid in $WORKER_PIDS; do
  start=${START_RSS[$pid]}
  if kill -0 "$pid" 2>/dev/null; then
    end=$(rss_kib "$pid")
    awk -v p="$pid" -v s="$start" -v e="$end" 'BEGIN {
      printf "  worker %s: %.1f MiB at start, %.1f MiB at end, growth %+.1f%%\n",
             p, s / 1024, e / 1024, (e - s) * 100 / s }'
  else
    echo "  worker $pid: $((start / 1024)) MiB at start, GONE at end (crashed or replaced)"
  fi
done
NOW=$(pgrep -P "$MASTER" | sort -n | tr '\n' ' ')
[[ "$NOW" == "$WORKER_PIDS" ]] && echo "workers: the same $WORKERS throughout" \
  || echo "workers: changed from $WORKER_PIDS to $NOW"
if grep -q "Traceback\|WORKER TIMEOUT\|Unhandled error" "$WORK/gunicorn.log"; then
  echo "server log has errors:"; grep -m5 -A3 "Traceback\|WORKER TIMEOUT\|Unhandled error" "$WORK/gunicorn.log"
fi
FIVE_XX=$(awk '/^5xx:/ {print $2}' "$WORK/wrk.out")
[[ "${FIVE_XX:-1}" == "0" ]]
