package gbt

import (
	"math"
	"testing"
)

func TestAUC(t *testing.T) {
	cases := []struct {
		name           string
		labels, scores []float64
		weights        []float64
		want           float64
	}{
		{"perfect ranking", []float64{0, 0, 1, 1}, []float64{0.1, 0.2, 0.3, 0.4}, nil, 1},
		{"reversed ranking", []float64{1, 1, 0, 0}, []float64{0.1, 0.2, 0.3, 0.4}, nil, 0},
		{"all tied count half", []float64{0, 1, 0, 1}, []float64{0.5, 0.5, 0.5, 0.5}, nil, 0.5},
		{"one pair of four out of order", []float64{0, 1, 0, 1}, []float64{0.1, 0.2, 0.3, 0.4}, nil, 0.75},
		{"a weight counts a row twice", []float64{0, 1, 0, 1}, []float64{0.1, 0.2, 0.3, 0.4}, []float64{1, 1, 2, 1}, 4.0 / 6},
		{"one class only", []float64{1, 1}, []float64{0.1, 0.2}, nil, math.NaN()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := AUC(c.labels, c.scores, c.weights)
			if !(math.Abs(got-c.want) < 1e-12 || math.IsNaN(got) && math.IsNaN(c.want)) {
				t.Errorf("AUC = %v, want %v", got, c.want)
			}
		})
	}
}

func TestLogLoss(t *testing.T) {
	got := LogLoss([]float64{1, 0}, []float64{0.8, 0.1}, nil)
	want := -(math.Log(0.8) + math.Log(0.9)) / 2
	if math.Abs(got-want) > 1e-15 {
		t.Errorf("LogLoss = %v, want %v", got, want)
	}
	if got := LogLoss([]float64{1}, []float64{0}, nil); math.IsInf(got, 0) {
		t.Error("a probability of 0 for a positive gives an infinite loss; want it clipped")
	}
}
