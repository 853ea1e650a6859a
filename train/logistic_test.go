package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat"

	"github.com/fraudscore/scorer/eval"
	"github.com/fraudscore/scorer/model"
)

// The synthetic table: fraud depends on two features only.
const (
	informativeCount = "card_tx_count_1m" // heavy-tailed count; log1p(count) matters
	informativeRisk  = "merchant_risk"    // normal; matters linearly
)

var noiseFeatures = []string{
	"card_seconds_since_prev", // -1 for none, else heavy-tailed
	"noise_normal",            // normal around 5, with a few NaN (missing)
	"noise_amount",            // heavy-tailed, non-negative
	"hour_of_day",             // uniform 0-23
	"constant",                // always 3
}

// trueLogit is the log-odds the labels are drawn from.
func trueLogit(count, risk float64) float64 {
	return -4.5 + 1.5*math.Log1p(count) + 1.2*risk
}

// syntheticTable has n rows one second apart.
func syntheticTable(n int, seed uint64) *Table {
	rng := rand.New(rand.NewPCG(seed, 99))
	names := append([]string{informativeCount, informativeRisk}, noiseFeatures...)
	t := &Table{Names: names, Columns: make([][]float64, len(names)), Labels: make([]bool, n)}
	for k := range t.Columns {
		t.Columns[k] = make([]float64, n)
	}
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for i := range n {
		t.TransactionID = append(t.TransactionID, fmt.Sprint("tx", i))
		t.CardID = append(t.CardID, fmt.Sprint("card", i%1000))
		t.EventTime = append(t.EventTime, base+int64(i)*int64(time.Second))
		count := math.Floor(rng.ExpFloat64() * 3) // geometric-like, skewed
		risk := rng.NormFloat64()
		since := -1.0
		if rng.Float64() < 0.8 {
			since = math.Round(rng.ExpFloat64() * 3600)
		}
		noise := 5 + 2*rng.NormFloat64()
		if rng.Float64() < 0.01 {
			noise = math.NaN()
		}
		vals := []float64{count, risk, since, noise, math.Round(rng.ExpFloat64() * 8000), float64(rng.IntN(24)), 3}
		for k, v := range vals {
			t.Columns[k][i] = v
		}
		t.Labels[i] = rng.Float64() < 1/(1+math.Exp(-trueLogit(count, risk)))
	}
	return t
}

var testThresholds = model.Thresholds{Review: 0.3, Decline: 0.8}

// fitSynthetic trains on the first 75% of a synthetic table and returns
// the fitted model, its JSON parsed by the model package, and the table's
// validation split.
func fitSynthetic(t *testing.T, opts LogisticOptions) (*LogisticModel, *model.Logistic, *Table) {
	t.Helper()
	all := syntheticTable(60000, 1)
	tr, va := SplitByTime(all, 0.25)
	opts.Version = "logreg-test-1"
	opts.Thresholds = testThresholds
	m, err := FitLogistic(tr, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	data, err := m.JSON()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := model.ParseLogistic(data)
	if err != nil {
		t.Fatalf("model.ParseLogistic: %v\n%s", err, data)
	}
	return m, parsed, va
}

func TestTrainLogisticLearnsTheSignal(t *testing.T) {
	m, parsed, valid := fitSynthetic(t, LogisticOptions{})
	scores, err := ScoreModel(context.Background(), parsed, valid)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("AUC on held-out rows near that of the true log-odds", func(t *testing.T) {
		count, _ := valid.Column(informativeCount)
		risk, _ := valid.Column(informativeRisk)
		oracle := make([]float64, valid.Len())
		for i := range oracle {
			oracle[i] = trueLogit(count[i], risk[i])
		}
		got, best := eval.ROCAUC(scores, valid.Labels), eval.ROCAUC(oracle, valid.Labels)
		if got < 0.8 || got < best-0.01 {
			t.Errorf("AUC %.4f, true log-odds give %.4f", got, best)
		}
	})
	t.Run("the informative features weigh most, the others little", func(t *testing.T) {
		byWeight := slices.Clone(m.Features)
		slices.SortFunc(byWeight, func(a, b LogisticFeature) int { return -cmpAbs(a.Weight, b.Weight) })
		top := []string{byWeight[0].Name, byWeight[1].Name}
		slices.Sort(top)
		if !slices.Equal(top, []string{informativeCount, informativeRisk}) {
			t.Errorf("largest weights on %v", top)
		}
		for _, f := range byWeight {
			informative := f.Name == informativeCount || f.Name == informativeRisk
			if informative && math.Abs(f.Weight) < 0.5 || !informative && math.Abs(f.Weight) > 0.1 {
				t.Errorf("%s: weight %.4f", f.Name, f.Weight)
			}
		}
	})
	t.Run("the model's own scoring gives the service's floats", func(t *testing.T) {
		fast, err := m.Score(valid)
		if err != nil {
			t.Fatal(err)
		}
		for i := range fast {
			if fast[i] != scores[i] {
				t.Fatalf("row %d: Score %v, model.Logistic %v", i, fast[i], scores[i])
			}
		}
	})
	t.Run("the fit converged", func(t *testing.T) {
		if m.Fit.GradNorm > 1e-4 || m.Fit.Iterations == 0 || m.Fit.Rows != 45000 {
			t.Errorf("fit %+v", m.Fit)
		}
	})
}

func cmpAbs(a, b float64) int {
	switch a, b := math.Abs(a), math.Abs(b); {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestFitLogisticReadsFeaturesAsTheModelDoes(t *testing.T) {
	m, parsed, _ := fitSynthetic(t, LogisticOptions{})
	feature := func(name string) LogisticFeature {
		i := slices.IndexFunc(m.Features, func(f LogisticFeature) bool { return f.Name == name })
		return m.Features[i]
	}
	for _, tc := range []struct {
		name      string
		transform string
		none      bool
	}{
		{informativeCount, "log1p", false},
		{informativeRisk, "none", false}, // has negative values
		{"card_seconds_since_prev", "log1p", true},
		{"noise_normal", "none", false}, // not skewed
		{"noise_amount", "log1p", false},
		{"hour_of_day", "none", false},
	} {
		t.Run(tc.name+" is "+tc.transform, func(t *testing.T) {
			f := feature(tc.name)
			if f.Transform != tc.transform || f.NoneIfNegative != tc.none {
				t.Errorf("transform %s, none_if_negative %v", f.Transform, f.NoneIfNegative)
			}
			if tc.none && (f.Missing == nil || *f.Missing != -1) {
				t.Errorf("missing %v, want -1", f.Missing)
			}
		})
	}
	t.Run("mean and scale leave out the none rows", func(t *testing.T) {
		f := feature("card_seconds_since_prev")
		// log1p of an exponential of mean 3600 has mean about 7.6.
		if f.Mean < 7 || f.Mean > 8.2 || f.Scale < 0.5 || f.Scale > 2 {
			t.Errorf("mean %v, scale %v", f.Mean, f.Scale)
		}
	})
	t.Run("a constant feature gets scale 1 and no weight", func(t *testing.T) {
		f := feature("constant")
		if f.Scale != 1 || f.Mean != 3 || math.Abs(f.Weight) > 1e-9 {
			t.Errorf("mean %v, scale %v, weight %v", f.Mean, f.Scale, f.Weight)
		}
	})
	t.Run("default reason codes and messages", func(t *testing.T) {
		f := feature("card_seconds_since_prev")
		if f.Code != "CARD_SECONDS_SINCE_PREV" || f.Message != "card seconds since prev is unusual" {
			t.Errorf("code %q, message %q", f.Code, f.Message)
		}
	})
	t.Run("the parsed model keeps version and thresholds", func(t *testing.T) {
		if parsed.Version() != "logreg-test-1" || parsed.Thresholds() != testThresholds {
			t.Errorf("version %q, thresholds %+v", parsed.Version(), parsed.Thresholds())
		}
	})
	t.Run("a none or missing value contributes nothing when served", func(t *testing.T) {
		p, err := parsed.Predict(context.Background(), model.Input{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range p.Contributions {
			if c.Feature == "card_seconds_since_prev" && c.Value != 0 {
				t.Errorf("absent card_seconds_since_prev contributes %v", c.Value)
			}
		}
	})
}

func TestFitLogisticClassWeights(t *testing.T) {
	// At the optimum the intercept's gradient is 0: the weighted mean
	// score equals the weighted share of fraud.
	tab := syntheticTable(20000, 3)
	pos := 0
	for _, y := range tab.Labels {
		if y {
			pos++
		}
	}
	neg := tab.Len() - pos
	for _, tc := range []struct {
		name string
		opts LogisticOptions
		pw   float64
	}{
		{"unweighted: the mean score is the fraud rate", LogisticOptions{}, 1},
		{"a positive weight", LogisticOptions{PositiveWeight: 3}, 3},
		{"balanced: the weighted mean score is one half", LogisticOptions{Balanced: true, PositiveWeight: 3}, float64(neg) / float64(pos)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Version = "v"
			m, err := FitLogistic(tab, nil, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if m.Fit.PositiveWeight != tc.pw {
				t.Errorf("positive weight %v, want %v", m.Fit.PositiveWeight, tc.pw)
			}
			scores, err := m.Score(tab)
			if err != nil {
				t.Fatal(err)
			}
			var ws, w float64
			for i, s := range scores {
				wi := 1.0
				if tab.Labels[i] {
					wi = tc.pw
				}
				ws += wi * s
				w += wi
			}
			if want := tc.pw * float64(pos) / w; math.Abs(ws/w-want) > 1e-4 {
				t.Errorf("weighted mean score %v, want %v", ws/w, want)
			}
		})
	}
}

func TestFitLogisticOptions(t *testing.T) {
	tab := syntheticTable(5000, 4)
	t.Run("codes, messages and transforms as given", func(t *testing.T) {
		m, err := FitLogistic(tab, []string{informativeCount, informativeRisk}, LogisticOptions{
			Version:    "v",
			Codes:      map[string]string{informativeCount: "CARD_VELOCITY_1M"},
			Messages:   map[string]string{informativeCount: "many transactions on this card in the last minute"},
			Transforms: map[string]string{informativeCount: "none"},
		})
		if err != nil {
			t.Fatal(err)
		}
		f := m.Features[0]
		if len(m.Features) != 2 || f.Code != "CARD_VELOCITY_1M" || f.Message != "many transactions on this card in the last minute" || f.Transform != "none" {
			t.Errorf("features %+v", m.Features)
		}
		if m.Features[1].Code != "MERCHANT_RISK" {
			t.Errorf("code %q", m.Features[1].Code)
		}
	})
	t.Run("reason settings default to the model's", func(t *testing.T) {
		m, err := FitLogistic(tab, []string{informativeRisk}, LogisticOptions{Version: "v"})
		if err != nil {
			t.Fatal(err)
		}
		if m.ReasonMinContribution != 0.5 || m.MaxReasons != 3 {
			t.Errorf("reason_min_contribution %v, max_reasons %v", m.ReasonMinContribution, m.MaxReasons)
		}
	})
	t.Run("the worker count changes the fit only by rounding", func(t *testing.T) {
		one, err := FitLogistic(tab, nil, LogisticOptions{Version: "v", Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		three, err := FitLogistic(tab, nil, LogisticOptions{Version: "v", Workers: 3})
		if err != nil {
			t.Fatal(err)
		}
		for j := range one.Features {
			if d := math.Abs(one.Features[j].Weight - three.Features[j].Weight); d > 1e-5 {
				t.Errorf("%s: weights differ by %v", one.Features[j].Name, d)
			}
		}
	})
	t.Run("a stronger penalty shrinks the weights", func(t *testing.T) {
		weak, err := FitLogistic(tab, nil, LogisticOptions{Version: "v", L2: -1})
		if err != nil {
			t.Fatal(err)
		}
		strong, err := FitLogistic(tab, nil, LogisticOptions{Version: "v", L2: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		norm := func(m *LogisticModel) (s float64) {
			for _, f := range m.Features {
				s += f.Weight * f.Weight
			}
			return s
		}
		if norm(strong) >= norm(weak) || weak.Fit.L2 != 0 || strong.Fit.L2 != 0.1 {
			t.Errorf("|w|^2 %v with L2 0.1, %v without", norm(strong), norm(weak))
		}
	})
}

func TestFitLogisticRejects(t *testing.T) {
	tab := syntheticTable(200, 5)
	oneClass := syntheticTable(200, 5)
	clear(oneClass.Labels)
	unlabelled := syntheticTable(200, 5)
	unlabelled.Labels = nil
	withInf := syntheticTable(200, 5)
	withInf.Columns[3][7] = math.Inf(1)
	for _, tc := range []struct {
		name     string
		tab      *Table
		features []string
		opts     LogisticOptions
		want     string
	}{
		{"no version", tab, nil, LogisticOptions{}, "Version is required"},
		{"no labels", unlabelled, nil, LogisticOptions{Version: "v"}, "no labels"},
		{"one class", oneClass, nil, LogisticOptions{Version: "v"}, "need both classes"},
		{"an unknown feature", tab, []string{"nope"}, LogisticOptions{Version: "v"}, `no feature "nope"`},
		{"a feature twice", tab, []string{informativeRisk, informativeRisk}, LogisticOptions{Version: "v"}, "listed twice"},
		{"an unknown transform", tab, nil, LogisticOptions{Version: "v", Transforms: map[string]string{informativeRisk: "sqrt"}}, `unknown transform "sqrt"`},
		{"a negative positive weight", tab, nil, LogisticOptions{Version: "v", PositiveWeight: -2}, "PositiveWeight"},
		{"an infinite value", withInf, nil, LogisticOptions{Version: "v"}, `feature "noise_normal" has infinite values`},
		{"too few iterations to converge", tab, nil, LogisticOptions{Version: "v", MaxIterations: 1}, "IterationLimit"},
		{"no thresholds for the JSON", tab, nil, LogisticOptions{Version: "v"}, "thresholds"},
		{"a code the model rejects", tab, nil, LogisticOptions{Version: "v", Thresholds: testThresholds, Codes: map[string]string{informativeRisk: "risk!"}}, "code must be upper-case"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := TrainLogistic(tc.tab, tc.features, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestLossGradientMatchesFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	n, d := 3000, 4
	p := &problem{x: make([][]float64, d), y: make([]bool, n), pw: 2.5, l2: 0.01}
	for j := range p.x {
		p.x[j] = make([]float64, n)
		for i := range p.x[j] {
			p.x[j][i] = rng.NormFloat64()
		}
	}
	pos := 0
	for i := range p.y {
		p.y[i] = rng.Float64() < 0.3
		if p.y[i] {
			pos++
		}
	}
	p.wsum = float64(n-pos) + p.pw*float64(pos)
	p.split(n, 2)
	beta := []float64{-0.5, 0.8, -1.2, 0.3, 2}
	g := make([]float64, len(beta))
	p.eval(beta, g)
	for j := range beta {
		const h = 1e-6
		plus, minus := slices.Clone(beta), slices.Clone(beta)
		plus[j] += h
		minus[j] -= h
		num := (p.eval(plus, make([]float64, len(beta))) - p.eval(minus, make([]float64, len(beta)))) / (2 * h)
		if math.Abs(num-g[j]) > 1e-6*max(1, math.Abs(num)) {
			t.Errorf("gradient[%d] = %v, finite difference %v", j, g[j], num)
		}
	}
}

func TestScoreModel(t *testing.T) {
	tab := readFixture(t)
	t.Run("the default model scores the backfill table", func(t *testing.T) {
		scores, err := ScoreModel(context.Background(), model.DefaultLogistic(), tab)
		if err != nil {
			t.Fatal(err)
		}
		if len(scores) != tab.Len() || !(scores[3] > scores[0]) {
			t.Errorf("scores %v: the third quick transaction with failures should score above the first", scores)
		}
	})
	t.Run("a done context stops it", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := ScoreModel(ctx, model.DefaultLogistic(), tab); err == nil {
			t.Error("no error")
		}
	})
}

func TestPrepareChoosesFromTheData(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	gen := func(f func() float64) []float64 {
		col := make([]float64, 2000)
		for i := range col {
			col[i] = f()
		}
		return col
	}
	for _, tc := range []struct {
		name      string
		feature   string
		col       []float64
		transform string
		none      bool
	}{
		{"a skewed count is log1p", "count", gen(func() float64 { return math.Floor(rng.ExpFloat64() * 2) }), "log1p", false},
		{"a symmetric feature is none", "level", gen(func() float64 { return 10 + rng.NormFloat64() }), "none", false},
		{"negative values rule log1p out", "signed", gen(func() float64 { return rng.ExpFloat64() - 0.5 }), "none", false},
		{"-1 as the only negative means none", "merchant_gap", gen(func() float64 {
			if rng.IntN(4) == 0 {
				return -1
			}
			return rng.ExpFloat64() * 100
		}), "log1p", true},
		{"a seconds_since_prev name means none without any -1", "device_seconds_since_prev", gen(func() float64 { return rng.ExpFloat64() * 100 }), "log1p", true},
		{"a constant is none", "flat", gen(func() float64 { return 2 }), "none", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, z := prepare(tc.feature, tc.col, "", false)
			if f.Transform != tc.transform || f.NoneIfNegative != tc.none {
				t.Errorf("transform %s, none_if_negative %v", f.Transform, f.NoneIfNegative)
			}
			// The standardised column has mean 0 and, unless constant,
			// standard deviation 1 over the rows that are not none.
			var kept []float64
			for i, v := range tc.col {
				if !(tc.none && v < 0) {
					kept = append(kept, z[i])
				} else if z[i] != 0 {
					t.Fatalf("row %d: none reads as %v, want 0", i, z[i])
				}
			}
			mean, std := stat.PopMeanStdDev(kept, nil)
			if math.Abs(mean) > 1e-9 || tc.feature != "flat" && math.Abs(std-1) > 1e-9 {
				t.Errorf("standardised mean %v, std %v", mean, std)
			}
		})
	}
}
