#!/bin/sh
# scorer backfill beside DuckDB on the Sparkov training log: ROUNDS rounds
# (default 3), each running every variant once in turn, so that noise from
# other work on the machine spreads over all of them rather than landing on
# one. Every run is printed with the load average just before it; nothing
# is dropped. See docs/BENCHMARKS.md, "Backfill".
#
#   go build -o /tmp/scorer ./cmd/scorer
#   mkdir -p /tmp/duckdb && (cd /tmp/duckdb && npm install @duckdb/node-api)
#   gunzip -c ../shared/data/sparkov/train.jsonl.gz > /tmp/train.jsonl
#   sh bench/backfill_bench.sh
#
# Environment: SCORER (default /tmp/scorer), GZ (the .jsonl.gz log), JSONL
# (the same log unpacked), OUT (directory for the Parquet outputs, default
# /tmp/backfill-bench), DUCKDB_MODULES (default /tmp/duckdb/node_modules),
# TASKSET (e.g. "taskset -c 0,1"; default: nothing, both cores), ROUNDS.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
SCORER=${SCORER:-/tmp/scorer}
GZ=${GZ:-$here/../../shared/data/sparkov/train.jsonl.gz}
JSONL=${JSONL:-/tmp/train.jsonl}
OUT=${OUT:-/tmp/backfill-bench}
DUCKDB_MODULES=${DUCKDB_MODULES:-/tmp/duckdb/node_modules}
TASKSET=${TASKSET:-}
ROUNDS=${ROUNDS:-3}
mkdir -p "$OUT"

# run NAME CMD...: prints the load average just before the run, the wall
# time and CPU time (user+system) of the whole process, start-up and exit
# included, and the command's own summary line. CPU time is less moved by
# other work on the machine than wall time is.
run() {
	name=$1
	shift
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	/usr/bin/time -o "$OUT/$name.time" -f '%e %U %S' $TASKSET "$@" >"$OUT/$name.log" 2>&1
	read -r wall user sys <"$OUT/$name.time"
	line=$(grep -E 'rows/s' "$OUT/$name.log" | tail -1)
	printf '%s\tload %s\twall %s s\tcpu %s s\t%s\n' "$name" "$load" "$wall" "$(echo "$user + $sys" | bc)" "$line"
}

for r in $(seq 1 "$ROUNDS"); do
	echo "round $r"
	run "duckdb-six-jsonl-$r" env NODE_PATH="$DUCKDB_MODULES" node "$here/duckdb_backfill.mjs" "$JSONL" "$OUT/duckdb_six.parquet" 2
	run "scorer-six-jsonl-$r" "$SCORER" backfill --features "$here/six.yaml" --input "$JSONL" --out "$OUT/scorer_six.parquet"
	run "scorer-six-gz-$r" "$SCORER" backfill --features "$here/six.yaml" --input "$GZ" --out "$OUT/scorer_six_gz.parquet"
	run "scorer-default21-jsonl-$r" "$SCORER" backfill --input "$JSONL" --out "$OUT/scorer_default.parquet"
	run "scorer-default21-gz-$r" "$SCORER" backfill --input "$GZ" --out "$OUT/scorer_default_gz.parquet"
done
