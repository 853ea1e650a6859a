package eval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// bruteAUC is the share of (positive, negative) pairs in the right order,
// ties counting one half.
func bruteAUC(scores []float64, labels []bool) float64 {
	var good float64
	var pairs int
	for i := range scores {
		if !labels[i] {
			continue
		}
		for j := range scores {
			if labels[j] {
				continue
			}
			pairs++
			switch {
			case scores[i] > scores[j]:
				good++
			case scores[i] == scores[j]:
				good += 0.5
			}
		}
	}
	return good / float64(pairs)
}

// bruteAP is average precision by its definition: the mean over the
// positives of the precision at the threshold of that positive's score
// (every row scoring at least as high alerts).
func bruteAP(scores []float64, labels []bool) float64 {
	var sum float64
	var pos int
	for i := range scores {
		if !labels[i] {
			continue
		}
		pos++
		var alerts, tp int
		for j := range scores {
			if scores[j] >= scores[i] {
				alerts++
				if labels[j] {
					tp++
				}
			}
		}
		sum += float64(tp) / float64(alerts)
	}
	return sum / float64(pos)
}

// randomCase draws n rows with scores from levels distinct values (so with
// many ties when levels is small) and about posShare positives, positives
// scoring a little higher on average. It has both classes.
func randomCase(rng *rand.Rand, n, levels int, posShare float64) ([]float64, []bool) {
	for {
		scores := make([]float64, n)
		labels := make([]bool, n)
		var pos int
		for i := range scores {
			labels[i] = rng.Float64() < posShare
			l := rng.IntN(levels)
			if labels[i] && rng.IntN(2) == 0 {
				l = min(levels-1, l+levels/3)
			}
			scores[i] = float64(l) / float64(levels)
			if labels[i] {
				pos++
			}
		}
		if pos > 0 && pos < n {
			return scores, labels
		}
	}
}

func TestMetricsEqualBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []struct {
		name     string
		n        int
		levels   int
		posShare float64
	}{
		{"few rows, heavy ties", 7, 3, 0.4},
		{"heavy ties", 200, 5, 0.3},
		{"some ties", 300, 50, 0.2},
		{"almost no ties, rare positives", 400, 1 << 30, 0.03},
		{"balanced, two levels", 100, 2, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for rep := range 20 {
				scores, labels := randomCase(rng, tc.n, tc.levels, tc.posShare)
				if got, want := ROCAUC(scores, labels), bruteAUC(scores, labels); math.Abs(got-want) > 1e-12 {
					t.Fatalf("rep %d: ROCAUC = %v, brute force %v", rep, got, want)
				}
				if got, want := PRAUC(scores, labels), bruteAP(scores, labels); math.Abs(got-want) > 1e-12 {
					t.Fatalf("rep %d: PRAUC = %v, brute force %v", rep, got, want)
				}
			}
		})
	}
}

func TestMetricsKnownCases(t *testing.T) {
	for _, tc := range []struct {
		name    string
		scores  []float64
		labels  []bool
		auc, ap float64
	}{
		{"perfect ranking", []float64{0.9, 0.8, 0.3, 0.1}, []bool{true, true, false, false}, 1, 1},
		{"reversed ranking", []float64{0.1, 0.2, 0.8, 0.9}, []bool{true, true, false, false}, 0, 0.5/3 + 0.5/2},
		{"all tied is chance, AP the positive rate", []float64{0.5, 0.5, 0.5, 0.5, 0.5}, []bool{true, false, false, true, false}, 0.5, 0.4},
		// scikit-learn's documented example of roc_auc_score and average_precision_score.
		{"scikit-learn example", []float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true}, 0.75, 0.8333333333333333},
		{"a positive tied with a negative at the top", []float64{0.9, 0.9, 0.1}, []bool{true, false, false}, 0.75, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ROCAUC(tc.scores, tc.labels); math.Abs(got-tc.auc) > 1e-12 {
				t.Errorf("ROCAUC = %v, want %v", got, tc.auc)
			}
			if got := PRAUC(tc.scores, tc.labels); math.Abs(got-tc.ap) > 1e-12 {
				t.Errorf("PRAUC = %v, want %v", got, tc.ap)
			}
		})
	}
}

func TestMetricsUndefined(t *testing.T) {
	for _, tc := range []struct {
		name          string
		labels        []bool
		aucNaN, apNaN bool
	}{
		{"no positives: both undefined", []bool{false, false}, true, true},
		{"no negatives: AUC undefined, AP defined", []bool{true, true}, true, false},
		{"no rows: both undefined", []bool{}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scores := make([]float64, len(tc.labels))
			if got := math.IsNaN(ROCAUC(scores, tc.labels)); got != tc.aucNaN {
				t.Errorf("ROCAUC NaN = %v, want %v", got, tc.aucNaN)
			}
			if got := math.IsNaN(PRAUC(scores, tc.labels)); got != tc.apNaN {
				t.Errorf("PRAUC NaN = %v, want %v", got, tc.apNaN)
			}
		})
	}
}

func TestNaNScoresRankLowest(t *testing.T) {
	scores := []float64{math.NaN(), 0.2, 0.1, math.NaN()}
	labels := []bool{false, true, false, true}
	// As if NaN were below 0.1: pairs (0.2,NaN) 1, (0.2,0.1) 1, (NaN,NaN) 1/2, (NaN,0.1) 0.
	if got := ROCAUC(scores, labels); got != 2.5/4 {
		t.Errorf("ROCAUC = %v, want %v", got, 2.5/4)
	}
}

func TestMismatchedLengthsPanic(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	ROCAUC([]float64{1, 2}, []bool{true})
}

// trapezoid is the area under a polyline by the trapezoid rule.
func trapezoid(pts []ROCPoint) float64 {
	var a float64
	for i := 1; i < len(pts); i++ {
		a += (pts[i].FPR - pts[i-1].FPR) * (pts[i].TPR + pts[i-1].TPR) / 2
	}
	return a
}

func TestROCCurve(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	scores, labels := randomCase(rng, 500, 40, 0.2)

	t.Run("one point per distinct score after the origin, area the AUC", func(t *testing.T) {
		pts := ROCCurve(scores, labels, 1000)
		distinct := map[float64]bool{}
		for _, s := range scores {
			distinct[s] = true
		}
		if len(pts) != len(distinct)+1 {
			t.Fatalf("%d points, want %d", len(pts), len(distinct)+1)
		}
		if pts[0].FPR != 0 || pts[0].TPR != 0 || pts[len(pts)-1].FPR != 1 || pts[len(pts)-1].TPR != 1 {
			t.Errorf("ends %+v and %+v, want (0,0) and (1,1)", pts[0], pts[len(pts)-1])
		}
		if a, auc := trapezoid(pts), ROCAUC(scores, labels); math.Abs(a-auc) > 1e-12 {
			t.Errorf("area %v, AUC %v", a, auc)
		}
		for i := 1; i < len(pts); i++ {
			if pts[i].Threshold >= pts[i-1].Threshold || pts[i].FPR < pts[i-1].FPR || pts[i].TPR < pts[i-1].TPR {
				t.Fatalf("point %d %+v does not follow %+v", i, pts[i], pts[i-1])
			}
		}
	})
	t.Run("each point is the operating point at its threshold", func(t *testing.T) {
		for _, p := range ROCCurve(scores, labels, 1000) {
			o := AtThreshold(scores, labels, p.Threshold)
			if fpr := float64(o.FP) / float64(o.FP+o.TN); p.TPR != o.Recall || p.FPR != fpr {
				t.Fatalf("point %+v, operating point %+v", p, o)
			}
		}
	})
}

func TestPRCurve(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	scores, labels := randomCase(rng, 500, 40, 0.2)
	pts := PRCurve(scores, labels, 1000)
	last := pts[len(pts)-1]
	pos := 0
	for _, l := range labels {
		if l {
			pos++
		}
	}
	t.Run("ends at recall 1 with precision the positive rate", func(t *testing.T) {
		if last.Recall != 1 || last.Precision != float64(pos)/float64(len(labels)) {
			t.Errorf("last point %+v", last)
		}
	})
	t.Run("each point is the operating point at its threshold", func(t *testing.T) {
		for _, p := range pts {
			o := AtThreshold(scores, labels, p.Threshold)
			if p.Recall != o.Recall || p.Precision != o.Precision {
				t.Fatalf("point %+v, operating point %+v", p, o)
			}
		}
	})
	t.Run("average precision is the step-wise sum over its points", func(t *testing.T) {
		var ap, prev float64
		for _, p := range pts {
			ap += (p.Recall - prev) * p.Precision
			prev = p.Recall
		}
		if want := PRAUC(scores, labels); math.Abs(ap-want) > 1e-12 {
			t.Errorf("sum %v, PRAUC %v", ap, want)
		}
	})
}

func TestCurvesDownsample(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	scores, labels := randomCase(rng, 20000, 1<<30, 0.05)
	full := ROCCurve(scores, labels, len(scores)+1)
	for _, maxPoints := range []int{3, 10, 300} {
		t.Run(fmt.Sprintf("ROC within %d points keeps its ends", maxPoints), func(t *testing.T) {
			pts := ROCCurve(scores, labels, maxPoints)
			if len(pts) > maxPoints || len(pts) < 2 {
				t.Fatalf("%d points", len(pts))
			}
			if pts[0] != full[0] || pts[len(pts)-1] != full[len(full)-1] {
				t.Errorf("ends %+v %+v, want %+v %+v", pts[0], pts[len(pts)-1], full[0], full[len(full)-1])
			}
			for i := 1; i < len(pts); i++ {
				if pts[i].Threshold >= pts[i-1].Threshold {
					t.Fatalf("not a subsequence at %d", i)
				}
			}
		})
	}
	t.Run("PR within the default when asked for 0", func(t *testing.T) {
		if pts := PRCurve(scores, labels, 0); len(pts) > DefaultCurvePoints {
			t.Errorf("%d points", len(pts))
		}
	})
	t.Run("300 points keep the ROC area within 0.005", func(t *testing.T) {
		if d := math.Abs(trapezoid(ROCCurve(scores, labels, 300)) - trapezoid(full)); d > 0.005 {
			t.Errorf("area differs by %v", d)
		}
	})
}

func TestScoreHistogram(t *testing.T) {
	scores := []float64{0, 0.049, 0.05, 0.5, 0.99, 1, 1.5, -0.2, math.NaN()}
	labels := []bool{true, false, false, true, true, false, true, false, true}
	h := ScoreHistogram(scores, labels, 20)
	t.Run("21 edges over [0, 1]", func(t *testing.T) {
		if len(h.Edges) != 21 || h.Edges[0] != 0 || h.Edges[20] != 1 || h.Edges[1] != 0.05 {
			t.Errorf("edges %v", h.Edges)
		}
	})
	t.Run("bins half-open, the last closed, outside clamped, NaN left out", func(t *testing.T) {
		wantPos := map[int]int{0: 1, 10: 1, 19: 2}
		wantNeg := map[int]int{0: 2, 1: 1, 19: 1}
		for b := range 20 {
			if h.Positives[b] != wantPos[b] || h.Negatives[b] != wantNeg[b] {
				t.Errorf("bin %d: %d positives %d negatives, want %d and %d", b, h.Positives[b], h.Negatives[b], wantPos[b], wantNeg[b])
			}
		}
	})
}
