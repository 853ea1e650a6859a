package gbt

import (
	"context"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The tests train on a few thousand rows with small trees: enough to pin
// what is learned, fast enough for CI under -race.

func TestTrainLearnsSignals(t *testing.T) {
	cases := []struct {
		name   string
		prob   func(x []float64) float64
		params Params
		top    []string // the features importance must rank first, in any order
	}{
		{
			name: "a threshold interaction of two features out of eight",
			prob: func(x []float64) float64 {
				if x[2] > 0.3 && x[5] > -0.2 {
					return 0.9
				}
				return 0.05
			},
			params: Params{NumTrees: 60, MaxDepth: 3},
			top:    []string{"f02", "f05"},
		},
		{
			name:   "XOR of two signs, which no single split separates",
			prob:   func(x []float64) float64 { return map[bool]float64{true: 0.9, false: 0.1}[(x[0] > 0) != (x[1] > 0)] },
			params: Params{NumTrees: 60, MaxDepth: 3},
			top:    []string{"f00", "f01"},
		},
		{
			name:   "a smooth monotone effect",
			prob:   func(x []float64) float64 { return sigmoid(2 * x[3]) },
			params: Params{NumTrees: 60, MaxDepth: 2},
			top:    []string{"f03"},
		},
		{
			name: "the same with row and column subsampling",
			prob: func(x []float64) float64 {
				if x[2] > 0.3 && x[5] > -0.2 {
					return 0.9
				}
				return 0.05
			},
			params: Params{NumTrees: 80, MaxDepth: 3, Subsample: 0.7, ColSample: 0.6, Seed: 3},
			top:    []string{"f02", "f05"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			train := table(4000, 8, 1, c.prob)
			test := table(2000, 8, 2, c.prob)
			m := mustTrain(t, train, nil, c.params)
			// Within 0.02 of the AUC of the true probabilities, the
			// best any model can do on these labels.
			auc, best := heldOutAUC(m, test), bayesAUC(test, c.prob)
			if auc < best-0.02 {
				t.Errorf("held-out AUC %.4f, want >= %.4f - 0.02", auc, best)
			}
			imp := m.Importance()
			var got []string
			for _, fi := range imp[:len(c.top)] {
				got = append(got, fi.Feature)
			}
			slices.Sort(got)
			if !slices.Equal(got, c.top) {
				t.Errorf("top features %v, want %v (importance %v)", got, c.top, imp)
			}
		})
	}
}

func TestTrainMonotoneSignalGivesRisingScores(t *testing.T) {
	prob := func(x []float64) float64 { return sigmoid(2 * x[0]) }
	m := mustTrain(t, table(5000, 3, 1, prob), nil, Params{NumTrees: 80, MaxDepth: 2})
	// The learned curve over x0 (other features at 0) rises from one end
	// to the other and follows the truth.
	x := []float64{0, 0, 0}
	var prev float64
	for i, v := range []float64{-2, -1, 0, 1, 2} {
		x[0] = v
		p := m.Predict(x)
		if i > 0 && p <= prev {
			t.Errorf("P(x0=%v) = %.3f, not above P at the previous point %.3f", v, p, prev)
		}
		if math.Abs(p-prob(x)) > 0.15 {
			t.Errorf("P(x0=%v) = %.3f, truth %.3f", v, p, prob(x))
		}
		prev = p
	}
}

func TestTrainMissingValuesGoTheLearnedWay(t *testing.T) {
	for _, c := range []struct {
		name      string
		missingP  float64 // label rate of the rows missing f0
		wantAbove float64 // P(missing) must be above this, or below -wantAbove
	}{
		{name: "missing means fraud", missingP: 0.9, wantAbove: 0.7},
		{name: "missing means legitimate", missingP: 0.02, wantAbove: -0.15},
	} {
		t.Run(c.name, func(t *testing.T) {
			prob := func(x []float64) float64 { return sigmoid(x[0] - 1) }
			d := table(4000, 2, 1, prob)
			// A fifth of f0 missing, with its own label rate.
			for i := 0; i < d.Rows(); i += 5 {
				d.Cols[0][i] = math.NaN()
				d.Labels[i] = 0
				if float64(i%100)/100 < c.missingP {
					d.Labels[i] = 1
				}
			}
			m := mustTrain(t, d, nil, Params{NumTrees: 60, MaxDepth: 2})
			p := m.Predict([]float64{math.NaN(), 0})
			if c.wantAbove > 0 && p < c.wantAbove || c.wantAbove < 0 && p > -c.wantAbove {
				t.Errorf("P(f0 missing) = %.3f, want on the side of %.2f", p, c.missingP)
			}
		})
	}
}

func TestTrainEarlyStoppingKeepsTheBestRound(t *testing.T) {
	// Pure noise: the validation loss is best after a few rounds, then
	// worsens as deep trees fit the noise.
	noise := func([]float64) float64 { return 0.3 }
	train, valid := table(1000, 5, 1, noise), table(1000, 5, 2, noise)
	for _, metric := range []string{"logloss", "auc"} {
		t.Run(metric, func(t *testing.T) {
			var rounds []RoundInfo
			m := mustTrain(t, train, valid, Params{
				NumTrees: 300, MaxDepth: 6, LearningRate: 0.3, EarlyStoppingRounds: 5, Metric: metric,
				Progress: func(r RoundInfo) { rounds = append(rounds, r) },
			})
			last := rounds[len(rounds)-1]
			if !last.StoppedEarly || len(rounds) == 300 {
				t.Fatalf("ran %d rounds, last %+v: want an early stop", len(rounds), last)
			}
			if m.NumTrees() != last.BestRound+1 {
				t.Errorf("kept %d trees, want best round %d + 1", m.NumTrees(), last.BestRound)
			}
			if len(rounds)-1-last.BestRound != 5 {
				t.Errorf("stopped %d rounds after the best, want 5", len(rounds)-1-last.BestRound)
			}
			for i, r := range rounds {
				if r.Round != i || math.IsNaN(r.Valid) || math.IsNaN(r.TrainLoss) {
					t.Fatalf("round %d: %+v", i, r)
				}
			}
		})
	}
}

func TestTrainIsReproducibleFromTheSeed(t *testing.T) {
	prob := func(x []float64) float64 { return sigmoid(x[0] + x[1]*x[2]) }
	d := table(3000, 4, 1, prob)
	p := Params{NumTrees: 10, MaxDepth: 3, Subsample: 0.8, ColSample: 0.5, Seed: 9, BinSampleRows: 1000}
	a, b := mustTrain(t, d, nil, p), mustTrain(t, d, nil, p)
	if !reflect.DeepEqual(a.Trees, b.Trees) {
		t.Error("two trainings with the same seed differ")
	}
	p.Seed = 10
	if c := mustTrain(t, d, nil, p); reflect.DeepEqual(a.Trees, c.Trees) {
		t.Error("another seed gives the same trees")
	}
}

func TestTrainOneThreadAndTwoLearnTheSameTrees(t *testing.T) {
	// Histograms summed by two goroutines differ from one's only in
	// rounding, which must not change the structure on clean data.
	prob := func(x []float64) float64 { return sigmoid(2*x[0] - x[1]) }
	d := table(20000, 3, 1, prob)
	a := mustTrain(t, d, nil, Params{NumTrees: 5, MaxDepth: 4, Threads: 1})
	b := mustTrain(t, d, nil, Params{NumTrees: 5, MaxDepth: 4, Threads: 2})
	x := make([]float64, 3)
	for i := 0; i < 200; i++ {
		if pa, pb := a.Predict(d.Row(i, x)), b.Predict(x); math.Abs(pa-pb) > 1e-9 {
			t.Fatalf("row %d: %v with 1 thread, %v with 2", i, pa, pb)
		}
	}
}

func TestTrainScalePosWeightRaisesScores(t *testing.T) {
	prob := func(x []float64) float64 { return sigmoid(x[0] - 3) }
	d := table(3000, 2, 1, prob)
	mean := func(m *Model) float64 {
		var s float64
		for _, p := range predictAll(m, d) {
			s += p
		}
		return s / float64(d.Rows())
	}
	plain := mean(mustTrain(t, d, nil, Params{NumTrees: 20, MaxDepth: 2}))
	scaled := mean(mustTrain(t, d, nil, Params{NumTrees: 20, MaxDepth: 2, ScalePosWeight: 10}))
	if !(scaled > 2*plain) {
		t.Errorf("mean score %.4f with ScalePosWeight 10, %.4f without: want much higher", scaled, plain)
	}
}

func TestTrainRowWeights(t *testing.T) {
	// Doubling every row's weight is the same as the table twice over, and
	// a zero weight removes a row.
	prob := func(x []float64) float64 { return sigmoid(x[0]) }
	d := table(2000, 2, 1, prob)
	d.Weights = slices.Repeat([]float64{2}, d.Rows())
	twice := &Dataset{Features: d.Features, Labels: slices.Concat(d.Labels, d.Labels)}
	for _, c := range d.Cols {
		twice.Cols = append(twice.Cols, slices.Concat(c, c))
	}
	p := Params{NumTrees: 5, MaxDepth: 3, Threads: 1}
	a, b := mustTrain(t, d, nil, p), mustTrain(t, twice, nil, p)
	x := make([]float64, 2)
	for i := 0; i < 100; i++ {
		if pa, pb := a.Predict(d.Row(i, x)), b.Predict(x); math.Abs(pa-pb) > 1e-9 {
			t.Fatalf("row %d: %v weighted, %v duplicated", i, pa, pb)
		}
	}
}

func TestTrainRejectsBadInput(t *testing.T) {
	good := func() *Dataset {
		return &Dataset{Features: []string{"a"}, Cols: [][]float64{{1, 2}}, Labels: []float64{0, 1}}
	}
	cases := []struct {
		name string
		edit func(d *Dataset, p *Params)
		want string
	}{
		{"no rows", func(d *Dataset, p *Params) { d.Labels, d.Cols[0] = nil, nil }, "no rows"},
		{"ragged column", func(d *Dataset, p *Params) { d.Cols[0] = []float64{1} }, "has 1 rows"},
		{"label not 0 or 1", func(d *Dataset, p *Params) { d.Labels[1] = 2 }, "want 0 or 1"},
		{"infinite value", func(d *Dataset, p *Params) { d.Cols[0][0] = math.Inf(1) }, "infinite"},
		{"duplicate feature", func(d *Dataset, p *Params) { d.Features = []string{"a", "a"}; d.Cols = append(d.Cols, d.Cols[0]) }, "duplicate"},
		{"negative weight", func(d *Dataset, p *Params) { d.Weights = []float64{1, -1} }, "weight"},
		{"too many bins", func(d *Dataset, p *Params) { p.Bins = 256 }, "Bins"},
		{"subsample above 1", func(d *Dataset, p *Params) { p.Subsample = 1.5 }, "Subsample"},
		{"unknown metric", func(d *Dataset, p *Params) { p.Metric = "error" }, "Metric"},
		{"early stopping without validation", func(d *Dataset, p *Params) { p.EarlyStoppingRounds = 3 }, "validation"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, p := good(), Params{NumTrees: 1}
			c.edit(d, &p)
			_, err := Train(context.Background(), d, nil, p)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestTrainStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	d := table(500, 2, 1, func([]float64) float64 { return 0.5 })
	_, err := Train(ctx, d, nil, Params{NumTrees: 1000, Progress: func(r RoundInfo) {
		if r.Round == 2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
