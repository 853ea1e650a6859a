package gbt

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randomTree grows a random tree over nf features, down to depth, with
// random positive covers; features repeat along paths, which is the case
// TreeSHAP's unwinding is for.
func randomTree(rng *rand.Rand, nf, depth int) []Node {
	var nodes []Node
	var grow func(d int) int
	grow = func(d int) int {
		id := len(nodes)
		nodes = append(nodes, Node{Feature: -1, Left: -1, Right: -1, Cover: 0.5 + rng.Float64()*10})
		if d == depth || (d > 0 && rng.Float64() < 0.25) {
			nodes[id].Value = rng.NormFloat64()
			return id
		}
		nodes[id].Feature = rng.IntN(nf)
		nodes[id].Threshold = rng.NormFloat64()
		nodes[id].DefaultLeft = rng.IntN(2) == 0
		l := grow(d + 1)
		r := grow(d + 1)
		nodes[id].Left, nodes[id].Right = l, r
		return id
	}
	grow(0)
	// Children must come after parents, which depth-first order gives.
	return nodes
}

// condExpect is the tree's expected output when the features in known
// (a bit set) are x's and the others are averaged over the covers: the
// value function whose Shapley values TreeSHAP computes.
func condExpect(nodes []Node, i int, x []float64, known uint) float64 {
	n := &nodes[i]
	if n.IsLeaf() {
		return n.Value
	}
	if known&(1<<n.Feature) != 0 {
		if goesLeft(n, x[n.Feature]) {
			return condExpect(nodes, n.Left, x, known)
		}
		return condExpect(nodes, n.Right, x, known)
	}
	cl, cr := nodes[n.Left].Cover, nodes[n.Right].Cover
	return (cl*condExpect(nodes, n.Left, x, known) + cr*condExpect(nodes, n.Right, x, known)) / (cl + cr)
}

// bruteShapley computes the Shapley values of the ensemble by summing over
// every subset of the other features.
func bruteShapley(m *Model, x []float64) []float64 {
	nf := len(m.Features)
	v := func(s uint) float64 {
		z := m.BaseMargin
		for _, t := range m.Trees {
			z += condExpect(t.Nodes, 0, x, s)
		}
		return z
	}
	fact := func(n int) float64 {
		f := 1.0
		for i := 2; i <= n; i++ {
			f *= float64(i)
		}
		return f
	}
	phi := make([]float64, nf)
	for i := range nf {
		for s := uint(0); s < 1<<nf; s++ {
			if s&(1<<i) != 0 {
				continue
			}
			size := 0
			for b := s; b != 0; b &= b - 1 {
				size++
			}
			w := fact(size) * fact(nf-size-1) / fact(nf)
			phi[i] += w * (v(s|1<<i) - v(s))
		}
	}
	return phi
}

func TestSHAPEqualsBruteForceShapleyValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		name         string
		nf, depth, k int
	}{
		{"one stump", 1, 1, 1},
		{"two stumps on two features", 2, 1, 2},
		{"deep trees reusing few features", 3, 4, 3},
		{"shallow trees over five features", 5, 2, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			for trial := range 20 {
				var trees []Tree
				for range c.k {
					trees = append(trees, Tree{Nodes: randomTree(rng, c.nf, c.depth)})
				}
				names := []string{"a", "b", "c", "d", "e"}[:c.nf]
				m, err := NewModel(names, rng.NormFloat64(), trees)
				if err != nil {
					t.Fatal(err)
				}
				x := make([]float64, c.nf)
				for j := range x {
					x[j] = rng.NormFloat64()
					if rng.Float64() < 0.2 {
						x[j] = math.NaN()
					}
				}
				out := make([]float64, c.nf)
				bias := m.SHAP(x, out)
				want := bruteShapley(m, x)
				sum := bias
				for j := range out {
					sum += out[j]
					if math.Abs(out[j]-want[j]) > 1e-9 {
						t.Fatalf("trial %d x=%v: SHAP[%s] = %v, brute force %v", trial, x, names[j], out[j], want[j])
					}
				}
				if margin := m.Margin(x); math.Abs(sum-margin) > 1e-9 {
					t.Fatalf("trial %d: bias + SHAP = %v, margin %v", trial, sum, margin)
				}
			}
		})
	}
}

func TestSHAPOnTwoStumpsEqualsPathAttribution(t *testing.T) {
	// With one split per tree the two methods agree: the feature's
	// Shapley value is its change of the tree's expected value.
	m := twoStumps(t)
	x := []float64{1, 5}
	a, b := make([]float64, 2), make([]float64, 2)
	ba, bb := m.SHAP(x, a), m.Contributions(x, b)
	if math.Abs(ba-bb) > 1e-15 || math.Abs(a[0]-b[0]) > 1e-15 || math.Abs(a[1]-b[1]) > 1e-15 {
		t.Errorf("SHAP %v + %v, Contributions %v + %v", ba, a, bb, b)
	}
}
