#!/usr/bin/env bash
# The overload benchmark of docs/BENCHMARKS.md: the default `scorer serve`
# on core 0, `scorer loadtest` on core 1. For each run it finds the capacity
# (--find-capacity), then holds 0.5x, 0.8x, 1.5x, 2x, 3x and 0.5x again of it
# in one open-loop run, and prints per phase the goodput, sheds, admitted
# latency, the CPU the server used and the goodput ceiling (1 - (λ-g)·r)/s
# that its shed cost allows (s and r are measured from the phases
# themselves: s from the 0.8x phase, r from the 3x one). With --slow-model it
# does the same with --model-url pointing at a model server that serves 4
# calls at a time, 20 ms each.
#
# usage: loadtest/overload.sh [--runs N] [--slow-model] [--max-p99 D] [--out DIR]
# --max-p99 is the latency bound of the capacity search (100ms; 200ms with
# --slow-model).
# Needs taskset (util-linux), python3 and two cores; takes about 3 minutes a
# run. Run it on a quiet machine: every figure is a ratio within one run.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
slow=0
max_p99_flag=""
out=bench-out
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --slow-model) slow=1; shift ;;
    --out) out=$2; shift 2 ;;
    --max-p99) max_p99_flag=$2; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
bin="$out/scorer"
go build -o "$bin" ./cmd/scorer

http=127.0.0.1:18080
kafka=127.0.0.1:19092
model=127.0.0.1:18090
case_name=default
# 100 ms, not 50: admission lets a burst's queue (a Badger flush) wait up to
# 100 ms rather than shed it, so a 5 s step with a flush in it has a p99
# near 100 ms at rates the service carries.
max_p99=100ms
# With the slow model, calls the model can take wait up to 20 ms and more
# in line for it: 50 ms at p99 is out of reach at any rate.
[ $slow = 1 ] && case_name=slow-model && max_p99=200ms
[ -n "$max_p99_flag" ] && max_p99=$max_p99_flag

serve_pid=""
model_pid=""
sampler_pid=""
cleanup() {
  for p in $sampler_pid $serve_pid $model_pid; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

start_serve() { # $1: data dir
  if curl -s -o /dev/null "http://$http/healthz"; then
    echo "something already answers on $http; stop it first (a stale scorer would be measured instead)" >&2
    exit 1
  fi
  local flags=(serve --http-addr "$http" --data-dir "$1" --embedded-kafka-addr "$kafka" --log-level warn)
  if [ $slow = 1 ]; then
    flags+=(--model-url "http://$model/v2/models/fraud")
  fi
  taskset -c 0 "$bin" "${flags[@]}" 2>"$1.log" &
  serve_pid=$!
  for _ in $(seq 150); do
    if curl -sf -o /dev/null "http://$http/readyz"; then return 0; fi
    sleep 0.2
  done
  echo "serve did not get ready; see $1.log" >&2
  exit 1
}

# sample_cpu writes "unix-time cpu-seconds" of the server every 250 ms.
sample_cpu() { # $1: pid, $2: file
  local hz
  hz=$(getconf CLK_TCK)
  while kill -0 "$1" 2>/dev/null; do
    awk -v now="$(date +%s.%N)" -v hz="$hz" '{print now, ($14+$15)/hz}' "/proc/$1/stat" >>"$2" 2>/dev/null || true
    sleep 0.25
  done
}

lt() { taskset -c 1 "$bin" loadtest --progress=false --target "http://$http" --cards 100000 --max-inflight 2000 "$@"; }

if [ $slow = 1 ]; then
  taskset -c 1 "$bin" noop --http-addr "$model" --model-concurrency 4 --model-latency 20ms 2>/dev/null &
  model_pid=$!
fi

for run in $(seq "$runs"); do
  dir="$out/$case_name-run$run"
  rm -rf "$dir" "$dir.log"
  start_serve "$dir"
  echo "== $case_name, run $run"
  # Warm up connections and caches before measuring anything.
  lt --rate 1000 --duration 5s >/dev/null
  lt --find-capacity --max-p99 "$max_p99" --step-duration 5s --settle 2s \
    --out "$out/$case_name-run$run-capacity.json" --html "$out/$case_name-run$run-capacity.html" \
    | tee "$out/$case_name-run$run-capacity.txt" | grep -E '^capacity' || true
  cap=$(python3 -c "import json,sys; print(int(json.load(open(sys.argv[1]))['capacity']['rate']))" "$out/$case_name-run$run-capacity.json")
  rm -f "$out/$case_name-run$run-cpu.txt"
  sample_cpu "$serve_pid" "$out/$case_name-run$run-cpu.txt" &
  sampler_pid=$!
  start=$(date +%s.%N)
  lt --capacity "$cap" --phases 10s:0.5x,10s:0.8x,10s:1.5x,10s:2x,10s:3x,10s:0.5x \
    --out "$out/$case_name-run$run-phases.json" --html "$out/$case_name-run$run-phases.html" \
    >"$out/$case_name-run$run-phases.txt"
  kill "$sampler_pid" 2>/dev/null || true
  wait "$sampler_pid" 2>/dev/null || true
  sampler_pid=""
  python3 loadtest/overload_report.py "$out/$case_name-run$run-phases.json" "$out/$case_name-run$run-cpu.txt" "$start" \
    | tee "$out/$case_name-run$run-summary.txt"
  kill "$serve_pid"
  wait "$serve_pid" 2>/dev/null || true
  serve_pid=""
done
python3 loadtest/overload_report.py --median "$out/$case_name"-run*-summary.json
