#!/bin/sh
# Training times of scorer train (trees and logistic regression) beside
# XGBoost on the same backfill table with the same time split, ROUNDS rounds
# (default 3), each running every variant once in turn; every run is printed
# with the load average just before it. See docs/BENCHMARKS.md, "Models".
#
#   go build -o /tmp/scorer ./cmd/scorer
#   /tmp/scorer backfill --input ../shared/data/sparkov/train.jsonl.gz \
#       --labels ../shared/data/sparkov/train_labels.csv --out /tmp/ml/train.parquet
#   /tmp/scorer backfill --input ../shared/data/sparkov/train.jsonl.gz \
#       --labels ../shared/data/sparkov/train_labels.csv --out /tmp/ml/train.csv
#   sh bench/train_bench.sh
#
# Environment: SCORER (default /tmp/scorer), PARQUET and CSV (the table in
# both formats; XGBoost reads the CSV), OUT (default /tmp/train-bench),
# UNTIL (default 2020-01-01T00:00:00Z), ROUNDS.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
SCORER=${SCORER:-/tmp/scorer}
PARQUET=${PARQUET:-/tmp/ml/train.parquet}
CSV=${CSV:-/tmp/ml/train.csv}
OUT=${OUT:-/tmp/train-bench}
UNTIL=${UNTIL:-2020-01-01T00:00:00Z}
ROUNDS=${ROUNDS:-3}
mkdir -p "$OUT"

# run NAME CMD...: the load average before, the wall and CPU time of the
# whole process (reading the table included), and the tool's own figure of
# the training alone.
run() {
	name=$1
	shift
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	/usr/bin/time -o "$OUT/$name.time" -f '%e %U %S' "$@" >"$OUT/$name.log" 2>&1
	read -r wall user sys <"$OUT/$name.time"
	line=$(grep -E '^model .* written|^xgboost ' "$OUT/$name.log" | tail -1)
	printf '%s\tload %s\twall %s s\tcpu %s s\t%s\n' "$name" "$load" "$wall" "$(echo "$user + $sys" | bc)" "$line"
}

for r in $(seq 1 "$ROUNDS"); do
	echo "round $r"
	run "scorer-gbt-300x6-$r" "$SCORER" train --table "$PARQUET" --until "$UNTIL" --trees 300 --depth 6 --version gbt-300x6 --out "$OUT/gbt-300x6.json"
	run "xgboost-300x6-$r" /usr/bin/python3 "$here/xgboost_reference.py" --table "$CSV" --until "$UNTIL" --trees 300 --depth 6 --out-dir "$OUT/xgb-300x6"
	run "scorer-gbt-150x5-$r" "$SCORER" train --table "$PARQUET" --until "$UNTIL" --trees 150 --depth 5 --version gbt-150x5 --out "$OUT/gbt-150x5.json"
	run "xgboost-150x5-$r" /usr/bin/python3 "$here/xgboost_reference.py" --table "$CSV" --until "$UNTIL" --trees 150 --depth 5 --out-dir "$OUT/xgb-150x5"
	run "scorer-logistic-$r" "$SCORER" train --table "$PARQUET" --until "$UNTIL" --kind logistic --version logistic --out "$OUT/logistic.json"
done
