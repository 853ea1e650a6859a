#!/usr/bin/python3
"""Trains the small XGBoost model that model/xgboost_test.go loads. Run with
Debian's python3-xgboost (apt-get install -y python3-xgboost), from this
directory:

    /usr/bin/python3 xgb_fixture.py

It writes
  xgb_fixture.model.json    the scorer's model file (kind xgboost), naming
                            the features and pointing at
  xgb_fixture.xgb.json      the XGBoost model (Booster.save_model, JSON)
  xgb_fixture.xgb.bin       the same model in XGBoost's binary format, which
                            the scorer must refuse cleanly
  xgb_fixture.expected.json reference rows (null: missing) and XGBoost's
                            probabilities and approximate contributions
The data are a fixed synthetic table over real feature names; amount is in
minor units, as the scorer reads it from the transaction.
"""
import json

import numpy as np
import xgboost as xgb

FEATURES = ["card_tx_count_1m", "card_failed_count_10m", "card_amount_sum_24h",
            "card_seconds_since_prev", "amount"]


def table(rng, n):
    x = np.empty((n, len(FEATURES)))
    x[:, 0] = rng.poisson(1.5, n)
    x[:, 1] = rng.poisson(0.3, n)
    x[:, 2] = np.round(np.exp(rng.normal(9, 1.5, n)))
    x[:, 3] = np.round(np.exp(rng.normal(8, 3, n)))
    x[rng.uniform(size=n) < 0.2, 3] = -1  # no earlier transaction
    x[:, 4] = np.round(np.exp(rng.normal(8, 1.2, n)))
    x[rng.uniform(size=n) < 0.1, 2] = np.nan  # missing velocity
    z = (-3 + 0.6 * x[:, 0] + 1.2 * x[:, 1] + 0.5 * (np.log1p(x[:, 4]) - 8)
         + 1.0 * (x[:, 3] < 30) * (x[:, 3] >= 0) + 1.0 * np.isnan(x[:, 2]))
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(float)
    return x, y


def main():
    rng = np.random.default_rng(7)
    x, y = table(rng, 3000)
    d = xgb.DMatrix(x, label=y, feature_names=FEATURES)
    bst = xgb.train({"objective": "binary:logistic", "tree_method": "hist", "max_depth": 3,
                     "eta": 0.3, "nthread": 1, "seed": 0}, d, 12)
    bst.save_model("xgb_fixture.xgb.json")
    bst.save_model("xgb_fixture.xgb.bin")
    with open("xgb_fixture.model.json", "w") as f:
        json.dump({"kind": "xgboost", "version": "xgb-fixture-1", "features": FEATURES,
                   "thresholds": {"review": 0.5, "decline": 0.85}, "path": "xgb_fixture.xgb.json",
                   "reasons": {"card_failed_count_10m": {"code": "CARD_FAILURES_10M",
                                                         "message": "failed or declined attempts on this card in the last 10 minutes"}},
                   "max_reasons": 3, "reason_min_contribution": 0.3,
                   "training": {"script": "model/testdata/xgb_fixture.py", "xgboost": xgb.__version__, "rows": 3000}},
                  f, indent=1)
        f.write("\n")
    rows, _ = table(np.random.default_rng(8), 40)
    dm = xgb.DMatrix(rows, feature_names=FEATURES)
    with open("xgb_fixture.expected.json", "w") as f:
        json.dump({"features": FEATURES,
                   "rows": [[None if np.isnan(v) else float(v) for v in r] for r in rows],
                   "prob": [float(p) for p in bst.predict(dm)],
                   "approx_contribs": [[float(v) for v in r] for r in bst.predict(dm, pred_contribs=True, approx_contribs=True)]},
                  f)
        f.write("\n")


if __name__ == "__main__":
    main()
