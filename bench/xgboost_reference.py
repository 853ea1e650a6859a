#!/usr/bin/python3
"""XGBoost beside `scorer train`: the same table, the same time split, the
same metrics; and an XGBoost model exported so that `scorer` serves it.

Needs only Debian's python3-xgboost and numpy (apt-get install -y
python3-xgboost); no pyarrow, so the table is read as CSV:

    scorer backfill --input ../shared/data/sparkov/train.jsonl.gz \
        --labels ../shared/data/sparkov/train_labels.csv --out /tmp/ml/train.csv
    /usr/bin/python3 bench/xgboost_reference.py --table /tmp/ml/train.csv \
        --until 2020-01-01T00:00:00Z --out-dir /tmp/ml/xgb \
        --reasons-from model/default_trees.json
    scorer evaluate --model /tmp/ml/xgb/xgb_model.json --table /tmp/ml/train.parquet \
        --from 2020-01-01T00:00:00Z

The split is scorer train's: the rows before --until are split by event time,
the latest --valid-share (0.2) of them, and every row tied with the earliest
of those, validate; the rest train. XGBoost stops early on the validation
split's ROC-AUC (30 rounds without a gain, as scorer train does) and the
thresholds are picked on it as scorer train picks them (review: the score
that alerts --target-alert-rate of the rows; decline: the lowest score whose
precision reaches --target-precision), capped so that the default rules'
scores (review 0.6, decline 0.95) still reach them. The rows from --until on
are the test: ROC-AUC, PR-AUC (average precision) and recall and precision
at alert rates of 0.1%, 0.5% and 1%, with the definitions of package eval
(ties at a threshold alert together).

It writes to --out-dir:
  xgb.json        the booster cut to its best round (Booster.save_model): a
                  booster trained with early stopping keeps the rounds after
                  the best one, and both predict() and save_model use them
                  all unless the booster is sliced (bst[:best_iteration + 1])
  xgb_model.json  the scorer's model file: {"kind": "xgboost", "features":
                  [...], "thresholds": {...}, "path": "xgb.json", ...}, which
                  scorer serve --model, scorer evaluate and scorer backtest
                  load (model.LoadAny)
  report.json     the figures printed, for docs/BENCHMARKS.md
"""
import argparse
import json
import math
import os
import time

import numpy as np
import xgboost as xgb

# Columns of a scorer backfill table that are not features.
NOT_FEATURES = ("transaction_id", "card_id", "event_time", "label")


def read_table(path):
    """Reads a scorer backfill CSV: feature names, event times (ns), the
    feature matrix and the labels."""
    with open(path) as f:
        header = f.readline().rstrip("\n").split(",")
        times = [line.split(",", 3)[2] for line in f]
    if "label" not in header:
        raise SystemExit(f"{path}: no label column (run scorer backfill with --labels)")
    names = [h for h in header if h not in NOT_FEATURES]
    cols = [header.index(n) for n in names] + [header.index("label")]
    data = np.loadtxt(path, delimiter=",", skiprows=1, usecols=cols, dtype=np.float64)
    # RFC 3339 in UTC with a trailing Z, as scorer backfill writes it.
    t = np.array([s.rstrip("Z") for s in times], dtype="datetime64[ns]").astype(np.int64)
    return names, t, data[:, :-1], data[:, -1]


def parse_time(s):
    return np.datetime64(s.rstrip("Z"), "ns").astype(np.int64)


def split_by_time(t, valid_share):
    """scorer train's SplitByTime over rows sorted by time: the index where
    validation starts."""
    n = len(t)
    n_valid = min(n, math.ceil(valid_share * n - 1e-9))
    cut = t[n - n_valid]
    return int(np.searchsorted(t, cut, side="left"))


def curve(scores, labels):
    """The confusion matrix at each distinct score, from the highest down
    (package eval's curve): thresholds, true and false positives."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    last = np.r_[np.nonzero(s[1:] != s[:-1])[0], len(s) - 1]
    tp = np.cumsum(y)[last]
    fp = last + 1 - tp
    return s[last], tp, fp


def roc_auc(thr, tp, fp):
    pos, neg = tp[-1], fp[-1]
    tp_above = np.r_[0, tp[:-1]]
    pk, nk = tp - tp_above, fp - np.r_[0, fp[:-1]]
    return float(np.sum(nk * (2 * tp_above + pk)) / (2 * pos * neg))


def average_precision(thr, tp, fp):
    d = tp - np.r_[0, tp[:-1]]
    return float(np.sum(d / tp[-1] * tp / (tp + fp)))


def alert_count(rate, n):
    return min(max(math.ceil(rate * n - 1e-9), 1), n)


def at_alert_rate(thr, tp, fp, rate):
    n = tp[-1] + fp[-1]
    k = int(np.searchsorted(tp + fp, alert_count(rate, n), side="left"))
    return {"rate": rate, "threshold": float(thr[k]), "alerts": int(tp[k] + fp[k]), "tp": int(tp[k]), "fp": int(fp[k]),
            "precision": float(tp[k] / (tp[k] + fp[k])), "recall": float(tp[k] / tp[-1])}


def threshold_for_precision(thr, tp, fp, target):
    ok = np.nonzero((tp > 0) & (tp / np.maximum(tp + fp, 1) >= target))[0]
    return float(thr[ok[-1]]) if len(ok) else None


def metrics(scores, labels):
    c = curve(scores.astype(np.float64), labels.astype(bool))
    return {"rows": int(len(scores)), "positives": int(labels.sum()), "roc_auc": roc_auc(*c),
            "pr_auc": average_precision(*c), "alert_rates": [at_alert_rate(*c, r) for r in (0.001, 0.005, 0.01)]}


def pick_thresholds(scores, labels, alert_rate, precision, cap_review, cap_decline):
    """scorer train's PickThresholds and capThresholds, for targets given."""
    thr, tp, fp = curve(scores.astype(np.float64), labels.astype(bool))
    decline = threshold_for_precision(thr, tp, fp, precision)
    decline = 1.0 if decline is None else decline
    review = at_alert_rate(thr, tp, fp, alert_rate)["threshold"]
    review = max(review, 5e-324)
    decline = max(decline, review)
    decline = min(decline, cap_decline)
    review = min(review, cap_review, decline)
    return {"review": review, "decline": decline}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", required=True, help="CSV from scorer backfill --labels")
    ap.add_argument("--until", default="2020-01-01T00:00:00Z", help="train and validate before it, test from it on")
    ap.add_argument("--valid-share", type=float, default=0.2)
    ap.add_argument("--trees", type=int, default=300, help="most boosting rounds")
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--learning-rate", type=float, default=0.1)
    ap.add_argument("--early-stopping", type=int, default=30)
    ap.add_argument("--nthread", type=int, default=0, help="0: every core")
    ap.add_argument("--target-alert-rate", type=float, default=0.01)
    ap.add_argument("--target-precision", type=float, default=0.9)
    ap.add_argument("--cap-review", type=float, default=0.6, help="lowest score of a review rule")
    ap.add_argument("--cap-decline", type=float, default=0.95, help="lowest score of a decline rule")
    ap.add_argument("--version", default=None, help="model version (default xgb-DEPTHxTREES)")
    ap.add_argument("--reasons-from", help="a scorer model file whose reason codes to copy (e.g. model/default_trees.json)")
    ap.add_argument("--out-dir", required=True)
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    version = a.version or f"xgb-{a.depth}x{a.trees}"

    t0 = time.perf_counter()
    names, t, x, y = read_table(a.table)
    if np.any(t[1:] < t[:-1]):  # scorer backfill writes in event-time order
        o = np.argsort(t, kind="stable")
        t, x, y = t[o], x[o], y[o]
    read_s = time.perf_counter() - t0
    end = int(np.searchsorted(t, parse_time(a.until), side="left"))
    k = split_by_time(t[:end], a.valid_share)
    print(f"read {len(t)} rows of {len(names)} features in {read_s:.1f} s; "
          f"train {k}, validate {end - k}, test {len(t) - end} (from {a.until})")

    t1 = time.perf_counter()
    dtrain = xgb.DMatrix(x[:k], label=y[:k], feature_names=names, nthread=a.nthread or -1)
    dvalid = xgb.DMatrix(x[k:end], label=y[k:end], feature_names=names, nthread=a.nthread or -1)
    dmatrix_s = time.perf_counter() - t1
    params = {"objective": "binary:logistic", "eval_metric": "auc", "tree_method": "hist",
              "max_depth": a.depth, "eta": a.learning_rate, "seed": 0}
    if a.nthread:
        params["nthread"] = a.nthread
    t2 = time.perf_counter()
    bst = xgb.train(params, dtrain, a.trees, evals=[(dvalid, "valid")],
                    early_stopping_rounds=a.early_stopping, verbose_eval=False)
    train_s = time.perf_counter() - t2
    rounds = bst.best_iteration + 1
    print(f"xgboost {xgb.__version__}: {bst.num_boosted_rounds()} rounds in {train_s:.1f} s "
          f"(+{dmatrix_s:.1f} s for the DMatrix), best round {rounds} (validation ROC-AUC {bst.best_score:.5f})")

    # Keep only the rounds up to the best one: xgb.train returns every
    # round it ran, the 30 after the best included.
    best = bst[:rounds]
    valid_scores = best.predict(dvalid)
    th = pick_thresholds(valid_scores, y[k:end], a.target_alert_rate, a.target_precision, a.cap_review, a.cap_decline)
    valid = metrics(valid_scores, y[k:end])
    test = None
    if end < len(t):  # rows from --until on: the test
        test = metrics(best.predict(xgb.DMatrix(x[end:], feature_names=names)), y[end:])

    best.save_model(os.path.join(a.out_dir, "xgb.json"))
    wrapper = {"kind": "xgboost", "version": version, "features": names, "thresholds": th, "path": "xgb.json",
               "max_reasons": 3, "reason_min_contribution": 0.3,
               "training": {"script": "bench/xgboost_reference.py", "xgboost": xgb.__version__, "params": params,
                            "trees": rounds, "train_rows": k, "valid_rows": end - k, "seconds": round(train_s, 1)},
               "evaluation": {"split": "validation", **valid}}
    if a.reasons_from:
        with open(a.reasons_from) as f:
            reasons = json.load(f).get("reasons", {})
        wrapper["reasons"] = {n: r for n, r in reasons.items() if n in names}
    with open(os.path.join(a.out_dir, "xgb_model.json"), "w") as f:
        json.dump(wrapper, f, indent=1)
        f.write("\n")
    report = {"version": version, "xgboost": xgb.__version__, "params": params, "rounds": rounds,
              "rounds_run": bst.num_boosted_rounds(), "read_seconds": round(read_s, 2),
              "dmatrix_seconds": round(dmatrix_s, 2), "train_seconds": round(train_s, 2),
              "thresholds": th, "validation": valid, "test": test}
    with open(os.path.join(a.out_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    print(f"thresholds (validation): review {th['review']:.6g}, decline {th['decline']:.6g}")
    for name, m in (("validation", valid), ("test", test)):
        if m is None:
            continue
        rates = ", ".join(f"R@{p['rate']:.1%} {p['recall']:.4f} (P {p['precision']:.4f})" for p in m["alert_rates"])
        print(f"{name}: {m['rows']} rows, {m['positives']} frauds: ROC-AUC {m['roc_auc']:.4f}, "
              f"PR-AUC {m['pr_auc']:.4f}; {rates}")
    print(f"wrote {a.out_dir}/xgb.json and {a.out_dir}/xgb_model.json (scorer --model)")


if __name__ == "__main__":
    main()
