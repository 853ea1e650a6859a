package gbt

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Node is one node of a Tree. A leaf has Left == Right == -1 and its Value
// is added to the margin. An internal node sends x left when
// x[Feature] < Threshold, right when x[Feature] >= Threshold, and the way
// DefaultLeft says when x[Feature] is NaN.
type Node struct {
	Feature     int     `json:"feature"`
	Threshold   float64 `json:"threshold,omitempty"`
	DefaultLeft bool    `json:"default_left,omitempty"`
	Left        int     `json:"left"`
	Right       int     `json:"right"`
	// Value is the leaf's output (learning rate applied). On an internal
	// node it is the output the node would have had as a leaf, kept for
	// inspection only.
	Value float64 `json:"value"`
	// Gain is the split's loss reduction, G_L²/(H_L+λ) + G_R²/(H_R+λ) -
	// G²/(H+λ) as XGBoost reports it; 0 on a leaf.
	Gain float64 `json:"gain,omitempty"`
	// Cover is the sum of the hessians of the training rows that reached
	// the node (XGBoost's "cover"). Contributions weigh the two sides of a
	// split by it.
	Cover float64 `json:"cover"`
}

// IsLeaf reports whether n is a leaf.
func (n *Node) IsLeaf() bool { return n.Left < 0 }

// Tree is a binary tree whose root is Nodes[0].
type Tree struct {
	Nodes []Node `json:"nodes"`
}

// Model is a trained ensemble. Its margin for x is BaseMargin plus the
// value of the leaf x reaches in each tree; its probability is the sigmoid
// of the margin. Build one with Train, Load or NewModel; the exported fields
// are the saved state and must not be changed after that.
type Model struct {
	Features   []string
	BaseMargin float64
	Trees      []Tree
	// Meta is free-form information saved with the model (training
	// parameters, best iteration); prediction ignores it.
	Meta map[string]any

	// The trees in one flat array, for prediction; roots[t] is tree t's
	// root and mean[i] the expected value of node i's subtree (the
	// cover-weighted mean of its leaves), for contributions.
	nodes []cnode
	roots []int32
	mean  []float64
}

// cnode is a Node compiled for prediction: 24 bytes, so that a depth-6 path
// touches a few cache lines.
type cnode struct {
	thr   float64 // threshold, or the value of a leaf
	feat  int32   // -1 for a leaf
	left  int32
	right int32
	dleft bool
}

// NewModel validates trees over features and returns a Model ready to
// predict. It is how hand-built and imported trees become a Model.
func NewModel(features []string, baseMargin float64, trees []Tree) (*Model, error) {
	m := &Model{Features: features, BaseMargin: baseMargin, Trees: trees}
	if err := m.compile(); err != nil {
		return nil, err
	}
	return m, nil
}

// compile checks the trees and builds the prediction arrays. Checks cover
// everything prediction relies on, so that a bad file is an error and never
// a panic or an endless loop: children after their parent (no cycles), in
// range, each node reached once, features in range, finite numbers.
func (m *Model) compile() error {
	if len(m.Features) == 0 {
		return errors.New("gbt: model has no features")
	}
	seen := make(map[string]bool, len(m.Features))
	for _, f := range m.Features {
		if f == "" || seen[f] {
			return fmt.Errorf("gbt: empty or duplicate feature name %q", f)
		}
		seen[f] = true
	}
	if !finite(m.BaseMargin) {
		return errors.New("gbt: base margin is not finite")
	}
	total := 0
	for _, t := range m.Trees {
		total += len(t.Nodes)
	}
	m.nodes = make([]cnode, 0, total)
	m.roots = make([]int32, 0, len(m.Trees))
	m.mean = make([]float64, total)
	for ti, t := range m.Trees {
		if err := checkTree(t.Nodes, len(m.Features)); err != nil {
			return fmt.Errorf("gbt: tree %d: %w", ti, err)
		}
		base := int32(len(m.nodes))
		m.roots = append(m.roots, base)
		for _, n := range t.Nodes {
			c := cnode{feat: -1, left: -1, right: -1, thr: n.Value}
			if !n.IsLeaf() {
				c = cnode{thr: n.Threshold, feat: int32(n.Feature), left: base + int32(n.Left), right: base + int32(n.Right), dleft: n.DefaultLeft}
			}
			m.nodes = append(m.nodes, c)
		}
		// Children come after their parents, so a backward pass sees
		// both children's means before the parent's.
		for i := len(t.Nodes) - 1; i >= 0; i-- {
			n := &t.Nodes[i]
			if n.IsLeaf() {
				m.mean[int(base)+i] = n.Value
				continue
			}
			l, r := &t.Nodes[n.Left], &t.Nodes[n.Right]
			ml, mr := m.mean[int(base)+n.Left], m.mean[int(base)+n.Right]
			if c := l.Cover + r.Cover; c > 0 {
				m.mean[int(base)+i] = (l.Cover*ml + r.Cover*mr) / c
			} else {
				m.mean[int(base)+i] = (ml + mr) / 2
			}
		}
	}
	return nil
}

func checkTree(nodes []Node, nf int) error {
	if len(nodes) == 0 {
		return errors.New("no nodes")
	}
	if len(nodes) > math.MaxInt32/2 {
		return errors.New("too many nodes")
	}
	parents := make([]int8, len(nodes))
	for i := range nodes {
		n := &nodes[i]
		if !finite(n.Value) || !finite(n.Gain) || !finite(n.Cover) || n.Cover < 0 {
			return fmt.Errorf("node %d: value, gain and cover must be finite, cover >= 0", i)
		}
		if n.Left == -1 && n.Right == -1 {
			continue
		}
		if n.Feature < 0 || n.Feature >= nf {
			return fmt.Errorf("node %d: feature %d out of range [0,%d)", i, n.Feature, nf)
		}
		if !finite(n.Threshold) {
			return fmt.Errorf("node %d: threshold is not finite", i)
		}
		for _, c := range [2]int{n.Left, n.Right} {
			if c <= i || c >= len(nodes) {
				return fmt.Errorf("node %d: child %d must be after the node and before %d", i, c, len(nodes))
			}
			if parents[c]++; parents[c] > 1 {
				return fmt.Errorf("node %d: child %d has two parents", i, c)
			}
		}
		if n.Left == n.Right {
			return fmt.Errorf("node %d: both children are %d", i, n.Left)
		}
	}
	for i := 1; i < len(nodes); i++ {
		if parents[i] == 0 {
			return fmt.Errorf("node %d is not reachable", i)
		}
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// leaf returns the index of the leaf x reaches from root.
func (m *Model) leaf(root int32, x []float64) int32 {
	nodes := m.nodes
	i := root
	for {
		n := &nodes[i]
		if n.feat < 0 {
			return i
		}
		v := x[n.feat]
		switch {
		case v < n.thr:
			i = n.left
		case v >= n.thr:
			i = n.right
		case n.dleft: // NaN compares false both ways
			i = n.left
		default:
			i = n.right
		}
	}
}

// Margin returns the raw score (log-odds) of x, whose values are in
// Features order (NaN for missing). It panics if len(x) < len(Features).
func (m *Model) Margin(x []float64) float64 {
	_ = x[len(m.Features)-1]
	z := m.BaseMargin
	for _, r := range m.roots {
		z += m.nodes[m.leaf(r, x)].thr
	}
	return z
}

// Predict returns the probability of the positive class for x.
func (m *Model) Predict(x []float64) float64 { return Sigmoid(m.Margin(x)) }

// Contributions splits Margin(x) into per-feature parts by path attribution
// (Saabas): on x's path through each tree, the change in the subtree's
// expected value across a split goes to the split's feature; the root's
// expected value goes to the bias. out must have len(Features) elements; it
// is overwritten. bias + sum(out) equals Margin(x) up to float rounding
// (the per-tree sums telescope to the leaf value).
//
// The expected value of a subtree is the mean of its leaves weighted by
// their training cover, so a split that x passes on its common side moves
// the value little and one that sends x to a rare side moves it much.
func (m *Model) Contributions(x []float64, out []float64) (bias float64) {
	_ = x[len(m.Features)-1]
	out = out[:len(m.Features)]
	clear(out)
	bias = m.BaseMargin
	nodes, mean := m.nodes, m.mean
	for _, r := range m.roots {
		i := r
		bias += mean[i]
		for {
			n := &nodes[i]
			if n.feat < 0 {
				break
			}
			v := x[n.feat]
			var next int32
			switch {
			case v < n.thr:
				next = n.left
			case v >= n.thr:
				next = n.right
			case n.dleft:
				next = n.left
			default:
				next = n.right
			}
			out[n.feat] += mean[next] - mean[i]
			i = next
		}
	}
	return bias
}

// ExpectedMargin returns the model's expected margin over its training
// data as the trees' covers see it: the bias of Contributions.
func (m *Model) ExpectedMargin() float64 {
	z := m.BaseMargin
	for _, r := range m.roots {
		z += m.mean[r]
	}
	return z
}

// FeatureImportance is one feature's share of a model's splits.
type FeatureImportance struct {
	Feature string
	Index   int
	Gain    float64 // total gain of the splits on the feature
	Splits  int
}

// Importance returns every feature's total split gain, largest first
// (features never split on come last, in Features order).
func (m *Model) Importance() []FeatureImportance {
	out := make([]FeatureImportance, len(m.Features))
	for j, f := range m.Features {
		out[j] = FeatureImportance{Feature: f, Index: j}
	}
	for _, t := range m.Trees {
		for _, n := range t.Nodes {
			if !n.IsLeaf() {
				out[n.Feature].Gain += n.Gain
				out[n.Feature].Splits++
			}
		}
	}
	slices.SortStableFunc(out, func(a, b FeatureImportance) int {
		switch {
		case a.Gain > b.Gain:
			return -1
		case a.Gain < b.Gain:
			return 1
		}
		return 0
	})
	return out
}

// NumTrees returns the number of trees.
func (m *Model) NumTrees() int { return len(m.Trees) }

// Sigmoid is the logistic function, the link from margin to probability.
func Sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
