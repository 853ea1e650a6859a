package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// benchTable has n rows and d features of the shapes a backfill table has
// (counts, amounts, a seconds-since-previous with -1, normals), fraud
// depending on a few of them at about a 1% rate.
func benchTable(n, d int) *Table {
	rng := rand.New(rand.NewPCG(1, 2))
	t := &Table{
		TransactionID: make([]string, n), CardID: make([]string, n), EventTime: make([]int64, n),
		Names: make([]string, d), Columns: make([][]float64, d), Labels: make([]bool, n),
	}
	for k := range d {
		t.Names[k] = fmt.Sprintf("f%02d", k)
		t.Columns[k] = make([]float64, n)
	}
	t.Names[0] = "card_seconds_since_prev"
	for i := range n {
		t.TransactionID[i] = "tx"
		t.CardID[i] = "card"
		t.EventTime[i] = int64(i) * 1e9
		logit := -6.0
		for k := range d {
			var v float64
			switch k % 4 {
			case 0:
				v = -1
				if rng.Float64() < 0.8 {
					v = math.Round(rng.ExpFloat64() * 3600)
				}
			case 1:
				v = math.Floor(rng.ExpFloat64() * 3)
				logit += 0.3 * math.Log1p(v)
			case 2:
				v = math.Round(rng.ExpFloat64() * 8000)
			case 3:
				v = rng.NormFloat64()
				logit += 0.5 * v
			}
			t.Columns[k][i] = v
		}
		t.Labels[i] = rng.Float64() < 1/(1+math.Exp(-logit))
	}
	return t
}

// BenchmarkFitLogistic fits 1M rows x 20 features, the size the trainer is
// meant for; b.ReportMetric gives the iterations it took.
func BenchmarkFitLogistic(b *testing.B) {
	t := benchTable(1_000_000, 20)
	b.ResetTimer()
	for b.Loop() {
		m, err := FitLogistic(t, nil, LogisticOptions{Version: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(m.Fit.Iterations), "iterations")
		b.ReportMetric(float64(m.Fit.FuncEvaluations), "evaluations")
	}
}

// BenchmarkLossGradient is one evaluation of the loss and its gradient
// over 1M rows x 20 features.
func BenchmarkLossGradient(b *testing.B) {
	t := benchTable(1_000_000, 20)
	p := &problem{y: t.Labels, pw: 1, wsum: float64(t.Len()), l2: 1e-4, x: t.Columns}
	p.split(t.Len(), runtime.GOMAXPROCS(0))
	beta := make([]float64, 21)
	for j := range beta {
		beta[j] = 0.01 * float64(j)
	}
	g := make([]float64, len(beta))
	b.ResetTimer()
	for b.Loop() {
		p.eval(beta, g)
	}
}
