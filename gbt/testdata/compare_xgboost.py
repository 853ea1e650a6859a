#!/usr/bin/python3
"""Fixtures for comparing package gbt with XGBoost. Run with Debian's
python3-xgboost (apt-get install -y python3-xgboost), from this directory:

    /usr/bin/python3 compare_xgboost.py

It writes
  compare_data.csv       a synthetic table: split (train/test), label, x0..x5
  compare_expected.json  XGBoost's held-out AUC and logloss for each
                         configuration that TestCompareWithXGBoost trains
  xgb_small.json         a small XGBoost model on the same table, and
  xgb_small_expected.json  its margins, approximate (Saabas) contributions
                         and TreeSHAP values on test rows, for
                         TestImportXGBoostJSON.
The Go tests read these files and need no Python.
"""
import csv
import json

import numpy as np
import xgboost as xgb
from sklearn.metrics import log_loss, roc_auc_score

FEATURES = ["x0", "x1", "x2", "x3", "x4", "x5"]
N_TRAIN, N_TEST = 3000, 2000

# The configurations TestCompareWithXGBoost trains with the same
# parameters (gbt.Params in the test, XGBoost's names here).
CONFIGS = {
    "depth4_eta0.1_200": dict(max_depth=4, eta=0.1, rounds=200),
    "depth6_eta0.3_60": dict(max_depth=6, eta=0.3, rounds=60),
    "depth2_eta0.1_300_spw3": dict(max_depth=2, eta=0.1, rounds=300, scale_pos_weight=3),
}


def table(rng, n):
    x = np.empty((n, 6))
    x[:, 0] = rng.normal(size=n)
    x[:, 1] = rng.normal(size=n)
    x[:, 2] = rng.poisson(2, size=n)  # a count, with ties at every value
    x[:, 3] = rng.uniform(size=n)
    x[:, 4] = rng.normal(size=n)
    x[rng.uniform(size=n) < 0.15, 4] = np.nan  # missing, and telling
    x[:, 5] = rng.normal(size=n)  # noise
    x = np.round(x, 4)
    x4 = np.nan_to_num(x[:, 4])
    z = (-2.5 + 2.5 * ((x[:, 0] > 0.5) & (x[:, 1] > 0)) + 0.5 * x[:, 2]
         + 1.5 * np.isnan(x[:, 4]) + 0.8 * x4 + 1.2 * ((x[:, 3] > 0.5) != (x[:, 1] > 0.3)))
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(float)
    return x, y


def main():
    rng = np.random.default_rng(20261202)
    xtr, ytr = table(rng, N_TRAIN)
    xte, yte = table(rng, N_TEST)

    with open("compare_data.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["split", "label"] + FEATURES)
        for split, x, y in (("train", xtr, ytr), ("test", xte, yte)):
            for row, label in zip(x, y):
                w.writerow([split, int(label)] + ["nan" if np.isnan(v) else repr(float(v)) for v in row])

    dtr = xgb.DMatrix(xtr, label=ytr, feature_names=FEATURES)
    dte = xgb.DMatrix(xte, label=yte, feature_names=FEATURES)
    expected = {"xgboost_version": xgb.__version__, "train_rows": N_TRAIN, "test_rows": N_TEST, "configs": {}}
    for name, c in CONFIGS.items():
        params = {
            "objective": "binary:logistic", "tree_method": "hist", "max_bin": 255,
            "max_depth": c["max_depth"], "eta": c["eta"], "lambda": 1, "min_child_weight": 1,
            "gamma": 0, "subsample": 1, "colsample_bytree": 1, "base_score": 0.5,
            "scale_pos_weight": c.get("scale_pos_weight", 1), "nthread": 2, "seed": 0,
        }
        bst = xgb.train(params, dtr, c["rounds"])
        p = bst.predict(dte)
        expected["configs"][name] = {
            "params": {k: v for k, v in c.items()},
            "test_auc": float(roc_auc_score(yte, p)),
            "test_logloss": float(log_loss(yte, p)),
        }
        print(name, expected["configs"][name])
    with open("compare_expected.json", "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")

    # A small model for the importer: a few trees, kept readable.
    small = xgb.train({"objective": "binary:logistic", "tree_method": "hist", "max_depth": 3,
                       "eta": 0.3, "base_score": 0.3, "nthread": 1}, dtr, 8)
    small.save_model("xgb_small.json")
    rows = xte[:60].copy()
    # Values exactly at split thresholds, and float64 values just below a
    # threshold that round up to it in float32, where a naive float64
    # comparison and XGBoost's float32 one disagree.
    tree = json.loads(small.save_raw("json").decode())["learner"]["gradient_booster"]["model"]["trees"][0]
    for k, (f, t) in enumerate((f, t) for f, t, l in zip(tree["split_indices"], tree["split_conditions"], tree["left_children"]) if l >= 0):
        rows[2 * k, f] = np.float32(t)
        rows[2 * k + 1, f] = float(np.float32(t)) - abs(float(np.float32(t))) * 2.0 ** -30
    dm = xgb.DMatrix(rows, feature_names=FEATURES)
    out = {
        "rows": [[None if np.isnan(v) else float(v) for v in r] for r in rows],
        "margin": [float(v) for v in small.predict(dm, output_margin=True)],
        "prob": [float(v) for v in small.predict(dm)],
        "approx_contribs": [[float(v) for v in r] for r in small.predict(dm, pred_contribs=True, approx_contribs=True)],
        "shap_contribs": [[float(v) for v in r] for r in small.predict(dm, pred_contribs=True)],
    }
    with open("xgb_small_expected.json", "w") as f:
        json.dump(out, f)
        f.write("\n")


if __name__ == "__main__":
    main()
