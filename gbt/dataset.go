// Package gbt trains and evaluates gradient-boosted decision trees for binary
// classification (logistic loss), in the manner of XGBoost's "hist" method:
// features are cut into quantile bins once, trees are grown depth-wise on
// per-bin gradient histograms with the second-order (Newton) gain, and a
// missing value (NaN) follows a default direction learned at each split.
//
//	m, err := gbt.Train(ctx, train, valid, gbt.Params{EarlyStoppingRounds: 20})
//	p := m.Predict(x) // x in m.Features order, NaN for missing
//
// A Model is immutable once trained or loaded and safe for concurrent use;
// its per-row methods do not allocate.
package gbt

import (
	"errors"
	"fmt"
	"math"
)

// Dataset is a columnar table: Cols[j][i] is feature j of row i. NaN means
// missing. Labels are 0 or 1. Weights, when not nil, weigh each row's loss
// (and so its gradient and hessian); they must be >= 0 and finite.
type Dataset struct {
	Features []string
	Cols     [][]float64
	Labels   []float64
	Weights  []float64
}

// Rows returns the number of rows.
func (d *Dataset) Rows() int { return len(d.Labels) }

// Validate reports a malformed table: ragged columns, labels other than 0
// and 1, infinite feature values (they cannot be binned or thresholded
// meaningfully) and bad weights.
func (d *Dataset) Validate() error {
	if d == nil {
		return errors.New("gbt: nil dataset")
	}
	n := len(d.Labels)
	if n == 0 {
		return errors.New("gbt: dataset has no rows")
	}
	if len(d.Features) == 0 || len(d.Features) != len(d.Cols) {
		return fmt.Errorf("gbt: dataset has %d feature names and %d columns", len(d.Features), len(d.Cols))
	}
	seen := make(map[string]bool, len(d.Features))
	for j, name := range d.Features {
		if name == "" || seen[name] {
			return fmt.Errorf("gbt: feature %d: empty or duplicate name %q", j, name)
		}
		seen[name] = true
		if len(d.Cols[j]) != n {
			return fmt.Errorf("gbt: feature %s has %d rows, labels %d", name, len(d.Cols[j]), n)
		}
		for i, x := range d.Cols[j] {
			if math.IsInf(x, 0) {
				return fmt.Errorf("gbt: feature %s row %d is infinite", name, i)
			}
		}
	}
	for i, y := range d.Labels {
		if y != 0 && y != 1 {
			return fmt.Errorf("gbt: label of row %d is %v, want 0 or 1", i, y)
		}
	}
	if d.Weights != nil {
		if len(d.Weights) != n {
			return fmt.Errorf("gbt: %d weights for %d rows", len(d.Weights), n)
		}
		for i, w := range d.Weights {
			if !(w >= 0) || math.IsInf(w, 0) {
				return fmt.Errorf("gbt: weight of row %d is %v, want finite >= 0", i, w)
			}
		}
	}
	return nil
}

// Row copies row i into x (len(x) >= len(d.Cols)) and returns it, for
// calling a Model on a table row.
func (d *Dataset) Row(i int, x []float64) []float64 {
	x = x[:len(d.Cols)]
	for j, c := range d.Cols {
		x[j] = c[i]
	}
	return x
}

func (d *Dataset) weight(i int) float64 {
	if d.Weights == nil {
		return 1
	}
	return d.Weights[i]
}
