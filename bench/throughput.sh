#!/usr/bin/env bash
# Throughput of the service under gunicorn, against plain Flask on the same
# settings (hello-world) and against the floor of this job (hello-world that
# also decodes the picture and looks at its pixels: bench/hello.py), loaded
# with wrk on 127.0.0.1 with a real canvas PNG body.
#
#   bench/throughput.sh [--duration SECONDS] [--retrain]
#
# Prints: cold start to the first answer with no model file; for POST
# /api/predict (and /api/predict/batch when the service has it) requests per
# second, p50 and p99 latency, failed requests, the workers' CPU time per
# request, and the ratios service / floor and service / hello-world from the
# same run; resident memory per worker after the load.
# With --retrain, also `manage.py train` on the same STORAGE_DIR while
# /api/predict is under load, and how many requests failed meanwhile.
#
# Environment: DURATION (15 s per load), WORKERS (2), CONNECTIONS (8),
# THREADS (2), BATCH_SIZE (64 images), BODIES (50 different drawings, cycled
# through), WARMUP (3 s), WRK_TIMEOUT (10 s).
# Everything it starts is stopped on exit.
set -euo pipefail

DURATION=${DURATION:-15}
WORKERS=${WORKERS:-2}
CONNECTIONS=${CONNECTIONS:-8}
THREADS=${THREADS:-2}
BATCH_SIZE=${BATCH_SIZE:-64}
BODIES=${BODIES:-50}
WARMUP=${WARMUP:-3}
WRK_TIMEOUT=${WRK_TIMEOUT:-10}  # an answer slower than this counts as a socket error
RETRAIN=0
START_TIMEOUT=120  # seconds to wait for a server's first answer

while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --retrain) RETRAIN=1; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "wrk is missing: installing the Debian package" >&2
    apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  fi
  command -v wrk >/dev/null || {
    echo "wrk is required: apt-get install wrk (Debian/Ubuntu) or brew install wrk" >&2; exit 1; }
fi
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/digit-bench.XXXXXX")
STARTED=()  # pids of the gunicorn masters and loads this script started

cleanup() {
  local pid
  for pid in "${STARTED[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server NAME APP PORT: gunicorn with the repository's gunicorn.conf.py,
# on 127.0.0.1, without the access log; its master's pid in SERVER_PID.
start_server() {
  local name=$1 app=$2 port=$3
  # The API's rate limit stays on (its cost is part of the answer) but far
  # above what one client on loopback can ask. Workers are not renewed during
  # the run (GUNICORN_MAX_REQUESTS=0): a renewal would reset the CPU counters.
  env STORAGE_DIR="$SCRATCH/storage-$name" SECRET_KEY=bench-secret-key \
      API_RATE_LIMIT=1000000/second GUNICORN_BIND="127.0.0.1:$port" WEB_CONCURRENCY="$WORKERS" GUNICORN_THREADS=1 \
      GUNICORN_ACCESS_LOG= GUNICORN_MAX_REQUESTS=0 LOG_LEVEL=warning \
      "$PYTHON" -m gunicorn -c gunicorn.conf.py "$app" >"$SCRATCH/$name.log" 2>&1 &
  SERVER_PID=$!
  STARTED+=("$SERVER_PID")
}

# wait_for_answer NAME URL BODY: poll until URL answers 200 to the body.
wait_for_answer() {
  local name=$1 url=$2 body=$3 deadline status
  deadline=$(( $(date +%s) + START_TIMEOUT ))
  while :; do
    status=$(curl -s -o /dev/null -w '%{http_code}' -m 30 -H 'Content-Type: application/json' \
                  --data-binary @"$body" "$url" || true)
    [ "$status" = 200 ] && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "$name gave no answer within ${START_TIMEOUT}s (last status $status); its log:" >&2
      tail -n 30 "$SCRATCH/$name.log" >&2
      exit 1
    fi
    sleep 0.05
  done
}

# load URL BODY SECONDS LOG: wrk on the URL; its RESULT line in LOG.
load() {
  local url=$1 body=$2 seconds=$3 log=$4
  BODY_FILE=$body wrk --latency -t "$THREADS" -c "$CONNECTIONS" -d "${seconds}s" --timeout "${WRK_TIMEOUT}s" \
      -s bench/wrk_post.lua "$url" >"$log" 2>&1
}

# CPU seconds used so far by the workers of a gunicorn master: with other work
# on the machine, CPU per request is steadier than requests per second.
TICKS=$(getconf CLK_TCK)
worker_cpu() {
  local pid total=0
  for pid in $(ps -o pid= --ppid "$1"); do
    # utime and stime are fields 14 and 15; the name in field 2 has no spaces here
    total=$(( total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0) ))
  done
  awk -v t="$total" -v hz="$TICKS" 'BEGIN { printf "%.3f", t / hz }'
}
# measure NAME MASTER URL BODY LOG: load, and the workers' CPU ms per request in LOG
measure() {
  local before after
  before=$(worker_cpu "$2")
  load "$3" "$4" "$DURATION" "$5"
  after=$(worker_cpu "$2")
  awk -v a="$before" -v b="$after" -v n="$(field "$5" requests)" \
      'BEGIN { printf "RESULT cpu_ms=%.3f\n", (b - a) * 1000 / n }' >>"$5"
}

field() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" "$1" | head -n 1; }
row() {  # row LABEL LOG [IMAGES_PER_REQUEST]
  local per=${3:-1}
  printf '  %-28s %9.1f %10.1f %8.2f %8.2f %8d %8d %8s\n' "$1" "$(field "$2" rps)" \
    "$(awk -v r="$(field "$2" rps)" -v n="$per" 'BEGIN { print r * n }')" \
    "$(field "$2" p50_ms)" "$(field "$2" p99_ms)" "$(field "$2" non2xx)" \
    "$(field "$2" socket_errors)" "$(field "$2" cpu_ms)"
}
header() {
  printf '  %-28s %9s %10s %8s %8s %8s %8s %8s\n' "" "req/s" "images/s" "p50 ms" "p99 ms" \
    "non-2xx" "sockerr" "cpu ms"
}
ratio() {  # ratio LOG_A LOG_B FIELD
  awk -v a="$(field "$1" "$3")" -v b="$(field "$2" "$3")" 'BEGIN { printf "%.3f", a / b }'
}
rss_mb() {  # resident memory of each worker of a gunicorn master, in MB
  ps -o rss= --ppid "$1" | awk '{ printf "%s%.0f", (NR > 1 ? " " : ""), $1 / 1024 }'
}
model_version() {
  curl -s -H 'Content-Type: application/json' --data-binary @"$PREDICT_BODY" \
       "$SERVICE/api/predict" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["model_version"])'
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
# Each load cycles through BODIES different drawings (one JSON body a line);
# the first alone is sent to see whether a server answers.
PREDICT_BODIES=$SCRATCH/predict.jsonl
BATCH_BODIES=$SCRATCH/batch.jsonl
PREDICT_BODY=$SCRATCH/predict.json
BATCH_BODY=$SCRATCH/batch.json
"$PYTHON" -m bench.canvas_body predict --bodies "$BODIES" >"$PREDICT_BODIES"
"$PYTHON" -m bench.canvas_body batch --count "$BATCH_SIZE" --bodies "$(( (BODIES + 4) / 5 ))" \
    >"$BATCH_BODIES"
head -n 1 "$PREDICT_BODIES" >"$PREDICT_BODY"
head -n 1 "$BATCH_BODIES" >"$BATCH_BODY"

# Cold start: from launching gunicorn on an empty STORAGE_DIR (no model, no
# database) to the first successful answer.
SERVICE_PORT=$(free_port)
SERVICE=http://127.0.0.1:$SERVICE_PORT
launched=$(now)
start_server service 'app:create_app()' "$SERVICE_PORT"
SERVICE_PID=$SERVER_PID
wait_for_answer service "$SERVICE/api/predict" "$PREDICT_BODY"
COLD_START=$(elapsed "$launched" "$(now)")
# A first start may answer from a provisional model while the full one trains
# in the background: load only once the full model answers, so that training
# does not share the CPU with the measurements.
FULL_MODEL=""
deadline=$(( $(date +%s) + START_TIMEOUT ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  if curl -s "$SERVICE/api/model" | "$PYTHON" -c \
      'import json, sys; sys.exit(bool(json.load(sys.stdin).get("provisional")))' 2>/dev/null; then
    FULL_MODEL=$(elapsed "$launched" "$(now)")
    break
  fi
  sleep 0.2
done
[ -n "$FULL_MODEL" ] || FULL_MODEL="not within ${START_TIMEOUT}"

HELLO_PORT=$(free_port)
HELLO=http://127.0.0.1:$HELLO_PORT
start_server hello 'bench.hello:create_app()' "$HELLO_PORT"
HELLO_PID=$SERVER_PID
wait_for_answer hello "$HELLO/api/predict" "$PREDICT_BODY"

FLOOR_PORT=$(free_port)
FLOOR=http://127.0.0.1:$FLOOR_PORT
start_server floor 'bench.hello:create_floor_app()' "$FLOOR_PORT"
FLOOR_PID=$SERVER_PID
wait_for_answer floor "$FLOOR/api/predict" "$PREDICT_BODY"

batch_status=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
                    --data-binary @"$BATCH_BODY" "$SERVICE/api/predict/batch" || true)
HAVE_BATCH=0
[ "$batch_status" = 200 ] && HAVE_BATCH=1

echo "warming up (${WARMUP}s each)..." >&2
load "$SERVICE/api/predict" "$PREDICT_BODIES" "$WARMUP" "$SCRATCH/warm-service.log"
load "$HELLO/api/predict" "$PREDICT_BODIES" "$WARMUP" "$SCRATCH/warm-hello.log"
load "$FLOOR/api/predict" "$PREDICT_BODIES" "$WARMUP" "$SCRATCH/warm-floor.log"

echo "loading POST /api/predict (${DURATION}s each)..." >&2
measure hello "$HELLO_PID" "$HELLO/api/predict" "$PREDICT_BODIES" "$SCRATCH/hello-predict.log"
measure floor "$FLOOR_PID" "$FLOOR/api/predict" "$PREDICT_BODIES" "$SCRATCH/floor-predict.log"
measure service "$SERVICE_PID" "$SERVICE/api/predict" "$PREDICT_BODIES" "$SCRATCH/service-predict.log"
if [ "$HAVE_BATCH" = 1 ]; then
  echo "loading POST /api/predict/batch (${DURATION}s each)..." >&2
  load "$HELLO/api/predict/batch" "$BATCH_BODIES" "$WARMUP" "$SCRATCH/warm-hello-batch.log"
  load "$FLOOR/api/predict/batch" "$BATCH_BODIES" "$WARMUP" "$SCRATCH/warm-floor-batch.log"
  load "$SERVICE/api/predict/batch" "$BATCH_BODIES" "$WARMUP" "$SCRATCH/warm-service-batch.log"
  measure hello "$HELLO_PID" "$HELLO/api/predict/batch" "$BATCH_BODIES" "$SCRATCH/hello-batch.log"
  measure floor "$FLOOR_PID" "$FLOOR/api/predict/batch" "$BATCH_BODIES" "$SCRATCH/floor-batch.log"
  measure service "$SERVICE_PID" "$SERVICE/api/predict/batch" "$BATCH_BODIES" "$SCRATCH/service-batch.log"
fi
SERVICE_RSS=$(rss_mb "$SERVICE_PID")
HELLO_RSS=$(rss_mb "$HELLO_PID")
FLOOR_RSS=$(rss_mb "$FLOOR_PID")

echo
echo "Digit Reader under gunicorn: $WORKERS workers; wrk $THREADS threads, $CONNECTIONS connections,"
echo "${DURATION}s a load, on 127.0.0.1; bodies: $BODIES different 280x280 RGBA canvas PNGs as data URIs" \
     "(about $(( $(wc -c <"$PREDICT_BODIES") / BODIES )) bytes each), cycled through"
echo
echo "load average before / after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg) ($(getconf _NPROCESSORS_ONLN) cores)"
echo "cold start to first answer, no model file:  ${COLD_START} s (full model served after ${FULL_MODEL} s)"
echo
header
row "hello-world /api/predict" "$SCRATCH/hello-predict.log"
row "floor /api/predict" "$SCRATCH/floor-predict.log"
row "service /api/predict" "$SCRATCH/service-predict.log"
echo "  ratio service / floor (predict):       $(ratio "$SCRATCH/service-predict.log" "$SCRATCH/floor-predict.log" rps) in req/s;" \
     "$(ratio "$SCRATCH/floor-predict.log" "$SCRATCH/service-predict.log" cpu_ms) in CPU per request"
echo "  ratio service / hello-world (predict): $(ratio "$SCRATCH/service-predict.log" "$SCRATCH/hello-predict.log" rps) in req/s;" \
     "$(ratio "$SCRATCH/hello-predict.log" "$SCRATCH/service-predict.log" cpu_ms) in CPU per request"
if [ "$HAVE_BATCH" = 1 ]; then
  row "hello-world batch of $BATCH_SIZE" "$SCRATCH/hello-batch.log" "$BATCH_SIZE"
  row "floor batch of $BATCH_SIZE" "$SCRATCH/floor-batch.log" "$BATCH_SIZE"
  row "service batch of $BATCH_SIZE" "$SCRATCH/service-batch.log" "$BATCH_SIZE"
  echo "  ratio service / floor (batch):         $(ratio "$SCRATCH/service-batch.log" "$SCRATCH/floor-batch.log" rps) in req/s;" \
     "$(ratio "$SCRATCH/floor-batch.log" "$SCRATCH/service-batch.log" cpu_ms) in CPU per request"
  echo "  ratio service / hello-world (batch):   $(ratio "$SCRATCH/service-batch.log" "$SCRATCH/hello-batch.log" rps) in req/s;" \
     "$(ratio "$SCRATCH/hello-batch.log" "$SCRATCH/service-batch.log" cpu_ms) in CPU per request"
else
  echo "  POST /api/predict/batch: not measured (the service answered $batch_status)"
fi
echo
echo "resident memory per worker after the load (MB): service $SERVICE_RSS; floor $FLOOR_RSS;" \
     "hello-world $HELLO_RSS"

if [ "$RETRAIN" = 1 ]; then
  echo >&2
  echo "retraining while POST /api/predict is under load..." >&2
  before=$(model_version)
  BODY_FILE=$PREDICT_BODIES wrk --latency -t "$THREADS" -c "$CONNECTIONS" -d 600s --timeout "${WRK_TIMEOUT}s" \
      -s bench/wrk_post.lua "$SERVICE/api/predict" >"$SCRATCH/retrain-load.log" 2>&1 &
  WRK_PID=$!
  STARTED+=("$WRK_PID")
  sleep 2
  train_start=$(now)
  train_status=0
  env STORAGE_DIR="$SCRATCH/storage-service" SECRET_KEY=bench-secret-key \
      "$PYTHON" manage.py train >"$SCRATCH/train.log" 2>&1 || train_status=$?
  TRAIN_TIME=$(elapsed "$train_start" "$(now)")
  sleep 3  # the workers look for a new model at most once a second
  kill -INT "$WRK_PID"  # wrk stops and prints its summary
  wait "$WRK_PID" || true
  after=$(model_version)
  echo
  echo "retrain during load: manage.py train exit $train_status in ${TRAIN_TIME} s;" \
       "model $before -> $after"
  header
  row "service /api/predict" "$SCRATCH/retrain-load.log"
  echo "  failed requests during the retrain: $(( $(field "$SCRATCH/retrain-load.log" non2xx) + $(field "$SCRATCH/retrain-load.log" socket_errors) ))" \
       "of $(field "$SCRATCH/retrain-load.log" requests)"
  [ "$train_status" = 0 ] || { echo "  manage.py train failed:"; tail -n 20 "$SCRATCH/train.log"; }
fi
