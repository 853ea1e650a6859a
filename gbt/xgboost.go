package gbt

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// xgbModel is the part of XGBoost's JSON model format (Booster.save_model
// with a .json name, XGBoost 1.0 and later) that a binary:logistic gbtree
// model needs.
type xgbModel struct {
	Learner struct {
		FeatureNames    []string `json:"feature_names"`
		GradientBooster struct {
			Name  string `json:"name"`
			Model struct {
				Trees []xgbTree `json:"trees"`
			} `json:"model"`
		} `json:"gradient_booster"`
		LearnerModelParam struct {
			BaseScore string `json:"base_score"`
			NumClass  string `json:"num_class"`
		} `json:"learner_model_param"`
		Objective struct {
			Name string `json:"name"`
		} `json:"objective"`
	} `json:"learner"`
}

type xgbTree struct {
	LeftChildren    []int     `json:"left_children"`
	RightChildren   []int     `json:"right_children"`
	SplitIndices    []int     `json:"split_indices"`
	SplitConditions []float64 `json:"split_conditions"`
	DefaultLeft     []int     `json:"default_left"`
	SplitType       []int     `json:"split_type"`
	LossChanges     []float64 `json:"loss_changes"`
	SumHessian      []float64 `json:"sum_hessian"`
}

// ImportXGBoostJSON converts an XGBoost model saved as JSON (objective
// binary:logistic, booster gbtree, numerical splits) into a Model over
// features, which name the model's columns in order. When the XGBoost file
// has feature names they must equal features; features may be nil then.
//
// The result predicts as XGBoost does, bit for bit in the decisions:
// XGBoost rounds an input to float32 and goes left when it is below the
// float32 threshold, and each threshold becomes the float64 at which that
// starts to hold (see xgbThreshold). Leaf values are float32 in XGBoost
// and summed in float32; here they are summed in float64, so margins agree
// to about 1e-6. Covers are XGBoost's sum_hessian, so Contributions equal
// XGBoost's approximate contributions (pred_contribs with approx_contribs).
func ImportXGBoostJSON(data []byte, features []string) (*Model, error) {
	var x xgbModel
	if err := json.Unmarshal(data, &x); err != nil {
		return nil, fmt.Errorf("xgboost model: %w", err)
	}
	l := &x.Learner
	if l.Objective.Name != "binary:logistic" {
		return nil, fmt.Errorf("xgboost model: objective %q is not supported (want binary:logistic)", l.Objective.Name)
	}
	if b := l.GradientBooster.Name; b != "gbtree" {
		return nil, fmt.Errorf("xgboost model: booster %q is not supported (want gbtree)", b)
	}
	if n := l.LearnerModelParam.NumClass; n != "" && n != "0" && n != "1" {
		return nil, fmt.Errorf("xgboost model: num_class %s: only binary models are supported", n)
	}
	if len(l.FeatureNames) > 0 {
		if features == nil {
			features = l.FeatureNames
		} else if !equalStrings(features, l.FeatureNames) {
			return nil, fmt.Errorf("xgboost model: its feature names %v are not %v", l.FeatureNames, features)
		}
	}
	if len(features) == 0 {
		return nil, errors.New("xgboost model: no feature names in the file and none given")
	}
	// base_score is a probability, written "5E-1" (XGBoost 1.x, 2.x) or
	// "[5E-1]" (3.1 and later).
	bs, err := strconv.ParseFloat(strings.Trim(l.LearnerModelParam.BaseScore, "[]"), 64)
	if err != nil || !(bs > 0 && bs < 1) {
		return nil, fmt.Errorf("xgboost model: base_score %q is not a probability", l.LearnerModelParam.BaseScore)
	}
	base := float64(float32(math.Log(bs / (1 - bs))))

	trees := make([]Tree, 0, len(l.GradientBooster.Model.Trees))
	for i, t := range l.GradientBooster.Model.Trees {
		nodes, err := t.convert(len(features))
		if err != nil {
			return nil, fmt.Errorf("xgboost model: tree %d: %w", i, err)
		}
		trees = append(trees, Tree{Nodes: nodes})
	}
	m, err := NewModel(features, base, trees)
	if err != nil {
		return nil, fmt.Errorf("xgboost model: %w", err)
	}
	m.Meta = map[string]any{"imported_from": "xgboost", "base_score": bs}
	return m, nil
}

// convert renumbers the tree's reachable nodes breadth first, so that
// children come after parents and deleted (pruned) nodes drop out.
func (t *xgbTree) convert(nf int) ([]Node, error) {
	n := len(t.LeftChildren)
	if n == 0 {
		return nil, errors.New("no nodes")
	}
	for _, l := range [][]int{t.RightChildren, t.SplitIndices, t.DefaultLeft} {
		if len(l) != n {
			return nil, errors.New("node arrays of different lengths")
		}
	}
	if len(t.SplitConditions) != n || len(t.SumHessian) != n || len(t.LossChanges) != n {
		return nil, errors.New("node arrays of different lengths")
	}
	for i, s := range t.SplitType {
		if s != 0 && t.LeftChildren[i] >= 0 {
			return nil, fmt.Errorf("node %d: categorical splits are not supported", i)
		}
	}
	out := make([]Node, 0, n)
	queue := []int{0}
	seen := make([]bool, n)
	seen[0] = true
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		nd := Node{Feature: -1, Left: -1, Right: -1, Cover: t.SumHessian[i]}
		l, r := t.LeftChildren[i], t.RightChildren[i]
		if l < 0 {
			nd.Value = float64(float32(t.SplitConditions[i]))
			out = append(out, nd)
			continue
		}
		if l >= n || r < 0 || r >= n || seen[l] || seen[r] || l == r {
			return nil, fmt.Errorf("node %d: bad children %d, %d", i, l, r)
		}
		if f := t.SplitIndices[i]; f < 0 || f >= nf {
			return nil, fmt.Errorf("node %d: feature %d out of range [0,%d)", i, f, nf)
		}
		thr, ok := xgbThreshold(float32(t.SplitConditions[i]))
		if !ok {
			return nil, fmt.Errorf("node %d: threshold %v is not finite", i, t.SplitConditions[i])
		}
		seen[l], seen[r] = true, true
		// The children get the next two places of the breadth-first
		// order: after everything already queued.
		next := len(out) + len(queue) + 1
		nd.Feature, nd.Threshold, nd.DefaultLeft = t.SplitIndices[i], thr, t.DefaultLeft[i] != 0
		nd.Left, nd.Right = next, next+1
		nd.Gain = t.LossChanges[i]
		out = append(out, nd)
		queue = append(queue, l, r)
	}
	return out, nil
}

// xgbThreshold returns the float64 threshold y at which "x < y" decides
// as XGBoost's float32(x) < t does, for every float64 x: the least y with
// float32(y) >= t. Rounding to float32 is monotone, so below y every x
// rounds under t and from y on none does. The candidates are the midpoint
// between t and the float32 below it (which rounds up to t or not,
// depending on ties-to-even) and the next float64 above it.
func xgbThreshold(t float32) (float64, bool) {
	if math.IsNaN(float64(t)) || math.IsInf(float64(t), 0) {
		return 0, false
	}
	below := float64(math.Nextafter32(t, float32(math.Inf(-1))))
	if math.IsInf(below, -1) {
		// t is the lowest float32: what rounds under it overflows to -Inf,
		// from the halfway point to the next power of two down.
		below = -math.Ldexp(1, 128)
	}
	mid := below/2 + float64(t)/2 // exact: a float32 needs 24 bits, the midpoint 25
	if float32(mid) >= t {
		return mid, true
	}
	return math.Nextafter(mid, math.Inf(1)), true
}
