package eval

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Ten rows, hand-checked below. From the top: 0.9 fraud, 0.8 tied between
// a legitimate row and a fraud, then one more fraud at 0.6.
var (
	handScores = []float64{0.9, 0.8, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1}
	handLabels = []bool{true, false, true, false, true, false, false, false, false, false}
)

func TestThresholdForAlertRate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rate      float64
		threshold float64
		alerts    int
		tp        int
	}{
		{"one row in ten is the top score", 0.1, 0.9, 1, 1},
		{"a tie at the threshold alerts all tied rows", 0.2, 0.8, 3, 2},
		{"a fractional count rounds up", 0.25, 0.8, 3, 2},
		{"half", 0.5, 0.6, 5, 3},
		{"a tiny rate still alerts one row", 1e-9, 0.9, 1, 1},
		{"every row", 1, 0.1, 10, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ThresholdForAlertRate(handScores, tc.rate); got != tc.threshold {
				t.Errorf("ThresholdForAlertRate = %v, want %v", got, tc.threshold)
			}
			o := AtAlertRate(handScores, handLabels, tc.rate)
			if o.Threshold != tc.threshold || o.Alerts() != tc.alerts || o.TP != tc.tp {
				t.Errorf("AtAlertRate = %+v, want threshold %v, %d alerts, %d TP", o, tc.threshold, tc.alerts, tc.tp)
			}
			if o.AlertRate < tc.rate {
				t.Errorf("actual alert rate %v below %v", o.AlertRate, tc.rate)
			}
		})
	}
	t.Run("a rate times rows that is whole in decimal is not rounded up", func(t *testing.T) {
		scores := make([]float64, 100)
		for i := range scores {
			scores[i] = float64(i)
		}
		// 0.07*100 is 7.000000000000001 in floating point.
		if got := ThresholdForAlertRate(scores, 0.07); got != 93 {
			t.Errorf("threshold %v, want 93 (seven rows)", got)
		}
	})
	t.Run("a rate out of (0, 1] panics", func(t *testing.T) {
		for _, rate := range []float64{0, -0.1, 1.5, math.NaN()} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("rate %v: no panic", rate)
					}
				}()
				ThresholdForAlertRate(handScores, rate)
			}()
		}
	})
	t.Run("no scores give NaN", func(t *testing.T) {
		if got := ThresholdForAlertRate(nil, 0.1); !math.IsNaN(got) {
			t.Errorf("got %v", got)
		}
	})
}

func TestThresholdForPrecision(t *testing.T) {
	// Precision from the top: 0.9 1/1, 0.8 2/3, 0.7 2/4, 0.6 3/5, 0.5 3/6,
	// ... 0.1 3/10. Recall: 1/3, 2/3, 2/3, 1, ...
	for _, tc := range []struct {
		name      string
		target    float64
		threshold float64
		recall    float64
	}{
		{"perfect precision only at the top", 1, 0.9, 1.0 / 3},
		{"two thirds at the tie", 0.65, 0.8, 2.0 / 3},
		{"the lowest threshold reaching it, past a dip below it", 0.6, 0.6, 1},
		{"every row", 0.3, 0.1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th, recall, ok := ThresholdForPrecision(handScores, handLabels, tc.target)
			if !ok || th != tc.threshold || math.Abs(recall-tc.recall) > 1e-15 {
				t.Errorf("got %v, %v, %v; want %v, %v, true", th, recall, ok, tc.threshold, tc.recall)
			}
			o, ok := AtPrecision(handScores, handLabels, tc.target)
			if !ok || o.Precision < tc.target || o.Threshold != tc.threshold {
				t.Errorf("AtPrecision = %+v, %v", o, ok)
			}
		})
	}
	t.Run("unreachable when the top row is legitimate", func(t *testing.T) {
		if th, _, ok := ThresholdForPrecision([]float64{0.9, 0.5}, []bool{false, true}, 0.9); ok {
			t.Errorf("found threshold %v", th)
		}
	})
}

func TestAtThreshold(t *testing.T) {
	for _, tc := range []struct {
		name      string
		threshold float64
		want      OperatingPoint
	}{
		{"rows at the threshold alert", 0.8, OperatingPoint{Threshold: 0.8, TP: 2, FP: 1, FN: 1, TN: 6, Precision: 2.0 / 3, Recall: 2.0 / 3, AlertRate: 0.3}},
		{"nothing alerts: precision 0", 0.95, OperatingPoint{Threshold: 0.95, FN: 3, TN: 7}},
		{"everything alerts", 0, OperatingPoint{Threshold: 0, TP: 3, FP: 7, Precision: 0.3, Recall: 1, AlertRate: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := AtThreshold(handScores, handLabels, tc.threshold); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("the curve's lookup agrees on random thresholds", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		scores, labels := randomCase(rng, 300, 20, 0.2)
		c := newCurve(scores, labels)
		for range 200 {
			th := rng.Float64()*1.2 - 0.1
			if rng.IntN(2) == 0 {
				th = scores[rng.IntN(len(scores))] // exactly a score
			}
			if got, want := c.at(th), AtThreshold(scores, labels, th); got != want {
				t.Fatalf("threshold %v: curve %+v, direct %+v", th, got, want)
			}
		}
	})
}
