package eval

import (
	"io"
	"math"
	"math/rand/v2"
	"testing"
)

// benchScores are n scores in (0, 1), about 1% fraud scoring higher.
func benchScores(n int) ([]float64, []bool) {
	rng := rand.New(rand.NewPCG(1, 2))
	scores := make([]float64, n)
	labels := make([]bool, n)
	for i := range scores {
		labels[i] = rng.Float64() < 0.01
		x := rng.NormFloat64()
		if labels[i] {
			x += 2
		}
		scores[i] = 1 / (1 + math.Exp(-(1.5*x - 5)))
	}
	return scores, labels
}

func BenchmarkROCAUC1M(b *testing.B) {
	scores, labels := benchScores(1_000_000)
	b.ResetTimer()
	for b.Loop() {
		ROCAUC(scores, labels)
	}
}

// BenchmarkEvaluate1M is a whole report over 1M rows, written as HTML.
func BenchmarkEvaluate1M(b *testing.B) {
	scores, labels := benchScores(1_000_000)
	opts := Options{Thresholds: []NamedThreshold{{"review", 0.5}, {"decline", 0.85}}, PrecisionTargets: []float64{0.5, 0.9}}
	b.ResetTimer()
	for b.Loop() {
		r, err := Evaluate(scores, labels, opts)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.WriteHTML(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
