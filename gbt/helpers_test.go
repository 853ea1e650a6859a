package gbt

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// table makes an n-row dataset of nf standard-normal features (named f0,
// f1, ...) whose label is drawn with probability prob(row values).
func table(n, nf int, seed uint64, prob func(x []float64) float64) *Dataset {
	rng := rand.New(rand.NewPCG(seed, 7))
	d := &Dataset{Cols: make([][]float64, nf), Labels: make([]float64, n)}
	for j := range nf {
		d.Features = append(d.Features, fmt.Sprintf("f%02d", j))
		d.Cols[j] = make([]float64, n)
	}
	x := make([]float64, nf)
	for i := range n {
		for j := range nf {
			x[j] = rng.NormFloat64()
			d.Cols[j][i] = x[j]
		}
		if rng.Float64() < prob(x) {
			d.Labels[i] = 1
		}
	}
	return d
}

func mustTrain(t testing.TB, train, valid *Dataset, p Params) *Model {
	t.Helper()
	m, err := Train(context.Background(), train, valid, p)
	if err != nil {
		t.Fatalf("Train: %v", err)
	}
	return m
}

// heldOutAUC scores every row of d with m.
func heldOutAUC(m *Model, d *Dataset) float64 {
	p := predictAll(m, d)
	return AUC(d.Labels, p, d.Weights)
}

func predictAll(m *Model, d *Dataset) []float64 {
	p := make([]float64, d.Rows())
	x := make([]float64, len(d.Cols))
	for i := range p {
		p[i] = m.Predict(d.Row(i, x))
	}
	return p
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// bayesAUC is the AUC of the true probabilities on d.
func bayesAUC(d *Dataset, prob func(x []float64) float64) float64 {
	p := make([]float64, d.Rows())
	x := make([]float64, len(d.Cols))
	for i := range p {
		p[i] = prob(d.Row(i, x))
	}
	return AUC(d.Labels, p, nil)
}
