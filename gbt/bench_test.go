package gbt

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// fraudLike is a synthetic table shaped like the scorer's training table:
// 20 features, half of them counts, some missing, about 2% positives
// driven by a few features and their interactions.
func fraudLike(n int, seed uint64) *Dataset {
	const nf = 20
	rng := rand.New(rand.NewPCG(seed, 11))
	d := &Dataset{Cols: make([][]float64, nf), Labels: make([]float64, n)}
	for j := range nf {
		d.Features = append(d.Features, fmt.Sprintf("f%02d", j))
		d.Cols[j] = make([]float64, n)
	}
	for i := range n {
		for j := range nf {
			var v float64
			if j%2 == 0 {
				v = math.Floor(rng.ExpFloat64() * float64(1+j)) // a count
			} else {
				v = rng.NormFloat64()
			}
			if j%5 == 4 && rng.Float64() < 0.05 {
				v = math.NaN()
			}
			d.Cols[j][i] = v
		}
		c := d.Cols
		z := -5 + 0.8*c[0][i] + 0.5*c[3][i]
		if c[2][i] > 2 {
			z += 1.5 * c[1][i]
		}
		if math.IsNaN(c[4][i]) {
			z += 1.5
		}
		if rng.Float64() < sigmoid(z) {
			d.Labels[i] = 1
		}
	}
	return d
}

// BenchmarkTrain trains 300 trees of depth 6 on 200k rows x 20 features
// (GBT_BENCH_ROWS overrides the rows, e.g. 1200000 for the production
// size). One op is one whole training.
func BenchmarkTrain(b *testing.B) {
	n := 200_000
	if s := os.Getenv("GBT_BENCH_ROWS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	d := fraudLike(n, 1)
	b.ResetTimer()
	b.ReportAllocs()
	for b.Loop() {
		m, err := Train(context.Background(), d, nil, Params{NumTrees: 300, MaxDepth: 6})
		if err != nil {
			b.Fatal(err)
		}
		_ = m
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/300/1e6, "ms/tree")
}

func benchModel(b *testing.B) (*Model, [][]float64) {
	d := fraudLike(20000, 1)
	m, err := Train(context.Background(), d, nil, Params{NumTrees: 300, MaxDepth: 6})
	if err != nil {
		b.Fatal(err)
	}
	rows := make([][]float64, 1024)
	for i := range rows {
		rows[i] = d.Row(i, make([]float64, 20))
	}
	return m, rows
}

// BenchmarkPredict scores one row with 300 trees of depth 6.
func BenchmarkPredict(b *testing.B) {
	m, rows := benchModel(b)
	b.ResetTimer()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Predict(rows[i&1023])
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(m.NumTrees()), "ns/tree")
}

// BenchmarkContributions splits one row's margin over 20 features.
func BenchmarkContributions(b *testing.B) {
	m, rows := benchModel(b)
	out := make([]float64, 20)
	b.ResetTimer()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Contributions(rows[i&1023], out)
		i++
	}
}

// BenchmarkSHAP computes one row's TreeSHAP values over 20 features.
func BenchmarkSHAP(b *testing.B) {
	m, rows := benchModel(b)
	out := make([]float64, 20)
	b.ResetTimer()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.SHAP(rows[i&1023], out)
		i++
	}
}
