package model

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/gbt"
)

// stumps is a gbt model small enough to work out by hand:
//
//	tree 0: card_failed_count_10m < 1.5 ? -0.5 (cover 9) : 2 (cover 1), missing left
//	tree 1: amount < 100000 ? -0.1 (cover 1) : 0.9 (cover 1), missing right
//
// with base margin -2. The trees' expected values are -0.25 and 0.4.
func stumps(t testing.TB) *gbt.Model {
	t.Helper()
	m, err := gbt.NewModel([]string{"card_failed_count_10m", "amount"}, -2, []gbt.Tree{
		{Nodes: []gbt.Node{
			{Feature: 0, Threshold: 1.5, DefaultLeft: true, Left: 1, Right: 2, Gain: 5, Cover: 10},
			{Feature: -1, Left: -1, Right: -1, Value: -0.5, Cover: 9},
			{Feature: -1, Left: -1, Right: -1, Value: 2, Cover: 1},
		}},
		{Nodes: []gbt.Node{
			{Feature: 1, Threshold: 100000, Left: 1, Right: 2, Gain: 1, Cover: 2},
			{Feature: -1, Left: -1, Right: -1, Value: -0.1, Cover: 1},
			{Feature: -1, Left: -1, Right: -1, Value: 0.9, Cover: 1},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func stumpsFile(t testing.TB) *TreesFile {
	maxReasons, reasonMin := 3, 0.3
	return &TreesFile{
		Kind: KindGBT, Version: "gbt-test-1", Features: []string{"card_failed_count_10m", "amount"},
		Thresholds: &Thresholds{Review: 0.5, Decline: 0.85},
		Reasons: map[string]Reason{
			"card_failed_count_10m": {Code: "CARD_FAILURES_10M", Message: "failed or declined attempts on this card in the last 10 minutes"},
		},
		MaxReasons: &maxReasons, ReasonMinContribution: &reasonMin,
		Model:    stumps(t),
		Training: map[string]any{"rows": 10},
	}
}

func mustTrees(t testing.TB, f *TreesFile) *Trees {
	t.Helper()
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ParseTrees(data)
	if err != nil {
		t.Fatalf("ParseTrees: %v\n%s", err, data)
	}
	return tr
}

func txInput(amount int64, feats ...fraud.Feature) Input {
	return Input{Tx: &fraud.Transaction{ID: "tx-1", CardID: "card-1", Amount: amount, Currency: "USD"}, Features: feats}
}

func TestTreesPredict(t *testing.T) {
	cases := []struct {
		name    string
		in      Input
		margin  float64
		contrib []Contribution // in order
		reasons int
	}{
		{
			name:   "failures and a large amount both raise the score, largest first",
			in:     txInput(200000, fraud.Feature{Name: "card_failed_count_10m", Value: 3}),
			margin: -2 + 2 + 0.9,
			contrib: []Contribution{
				{Feature: "card_failed_count_10m", Value: 2.25, Code: "CARD_FAILURES_10M", Message: "failed or declined attempts on this card in the last 10 minutes"},
				{Feature: "amount", Value: 0.5, Code: "AMOUNT", Message: "amount is unusual for this transaction"},
			},
			reasons: 2,
		},
		{
			name:   "a missing feature takes the learned default way and no reason passes the minimum",
			in:     txInput(50),
			margin: -2 - 0.5 - 0.1,
			contrib: []Contribution{
				{Feature: "card_failed_count_10m", Value: -0.25, Code: "CARD_FAILURES_10M", Message: "failed or declined attempts on this card in the last 10 minutes"},
				{Feature: "amount", Value: -0.5, Code: "AMOUNT", Message: "amount is unusual for this transaction"},
			},
			reasons: 0,
		},
		{
			name:   "no transaction: amount is missing and goes right",
			in:     Input{Features: fraud.Features{{Name: "card_failed_count_10m", Value: 0}}},
			margin: -2 - 0.5 + 0.9,
			contrib: []Contribution{
				{Feature: "amount", Value: 0.5, Code: "AMOUNT", Message: "amount is unusual for this transaction"},
				{Feature: "card_failed_count_10m", Value: -0.25, Code: "CARD_FAILURES_10M", Message: "failed or declined attempts on this card in the last 10 minutes"},
			},
			reasons: 1,
		},
	}
	tr := mustTrees(t, stumpsFile(t))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := tr.Predict(context.Background(), c.in)
			if err != nil {
				t.Fatal(err)
			}
			if want := 1 / (1 + math.Exp(-c.margin)); math.Abs(p.Score-want) > 1e-12 {
				t.Errorf("Score = %v, want sigmoid(%v) = %v", p.Score, c.margin, want)
			}
			if len(p.Contributions) != len(c.contrib) {
				t.Fatalf("Contributions = %+v, want %+v", p.Contributions, c.contrib)
			}
			for i, want := range c.contrib {
				got := p.Contributions[i]
				if math.Abs(got.Value-want.Value) > 1e-12 {
					t.Errorf("contribution %d: %+v, want %+v", i, got, want)
				}
				got.Value = want.Value
				if got != want {
					t.Errorf("contribution %d: %+v, want %+v", i, got, want)
				}
			}
			if p.NumReasons != c.reasons {
				t.Errorf("NumReasons = %d, want %d", p.NumReasons, c.reasons)
			}
		})
	}
}

func TestTreesMaxReasonsCapsTheReasons(t *testing.T) {
	f := stumpsFile(t)
	one := 1
	f.MaxReasons = &one
	p, err := mustTrees(t, f).Predict(context.Background(), txInput(200000, fraud.Feature{Name: "card_failed_count_10m", Value: 3}))
	if err != nil {
		t.Fatal(err)
	}
	if p.NumReasons != 1 || p.Contributions[0].Code != "CARD_FAILURES_10M" {
		t.Errorf("NumReasons %d, first %+v: want 1, CARD_FAILURES_10M", p.NumReasons, p.Contributions[0])
	}
}

func TestTreesInTheEngine(t *testing.T) {
	// The engine takes the model's thresholds and its reasons after the
	// rules'.
	f := stumpsFile(t)
	f.Thresholds = &Thresholds{Review: 0.3, Decline: 0.95}
	eng := NewEngine(mustRules(t, "version: none\nrules: []\n"), mustTrees(t, f), Options{})
	out := eng.Score(context.Background(), txInput(200000, fraud.Feature{Name: "card_failed_count_10m", Value: 3}))
	if out.Degraded || out.Decision != fraud.Review || out.ModelVersion != "gbt-test-1" {
		t.Errorf("Output %+v: want review by gbt-test-1 (0.71 is between 0.3 and 0.95)", out)
	}
	if got := codes(out.Reasons); strings.Join(got, ",") != "CARD_FAILURES_10M,AMOUNT" {
		t.Errorf("reasons %v, want CARD_FAILURES_10M, AMOUNT", got)
	}
}

func TestTreesPredictAllocatesOnlyTheContributions(t *testing.T) {
	tr := mustTrees(t, stumpsFile(t))
	in := txInput(200000, fraud.Feature{Name: "card_failed_count_10m", Value: 3})
	ctx := context.Background()
	if a := testing.AllocsPerRun(100, func() { tr.Predict(ctx, in) }); a > 1 {
		t.Errorf("Predict: %v allocations, want 1", a)
	}
}

func TestTreesPredictHonoursCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := mustTrees(t, stumpsFile(t)).Predict(ctx, txInput(1)); err != context.Canceled {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestDefaultReason(t *testing.T) {
	for _, c := range []struct{ feature, code, message string }{
		{"card_amount_sum_24h", "CARD_AMOUNT_SUM_24H", "card amount sum 24h is unusual for this card"},
		{"merchant_tx_count_1h", "MERCHANT_TX_COUNT_1H", "merchant tx count 1h is unusual for this merchant"},
		{"amount", "AMOUNT", "amount is unusual for this transaction"},
		{"ip.country-risk", "IP_COUNTRY_RISK", "ip country risk is unusual for this transaction"},
	} {
		t.Run(c.feature, func(t *testing.T) {
			r := DefaultReason(c.feature)
			if r.Code != c.code || r.Message != c.message || !validCode(r.Code) {
				t.Errorf("DefaultReason = %+v, want %s %q", r, c.code, c.message)
			}
		})
	}
}

func TestParseTreesRejects(t *testing.T) {
	cases := []struct {
		name string
		edit func(f *TreesFile)
		want string
	}{
		{"another kind", func(f *TreesFile) { f.Kind = "logistic" }, "kind"},
		{"no version", func(f *TreesFile) { f.Version = "" }, "version"},
		{"no thresholds", func(f *TreesFile) { f.Thresholds = nil }, "thresholds"},
		{"review above decline", func(f *TreesFile) { f.Thresholds = &Thresholds{Review: 0.9, Decline: 0.5} }, "review <= decline"},
		{"decline above 1", func(f *TreesFile) { f.Thresholds = &Thresholds{Review: 0.5, Decline: 1.5} }, "decline <= 1"},
		{"review 0", func(f *TreesFile) { f.Thresholds = &Thresholds{Review: 0, Decline: 0.5} }, "0 < review"},
		{"features not the model's", func(f *TreesFile) { f.Features = []string{"amount", "card_failed_count_10m"} }, "same order"},
		{"reason for an unknown feature", func(f *TreesFile) { f.Reasons["nope"] = Reason{Code: "NOPE", Message: "x"} }, `"nope" is not a feature`},
		{"lower-case code", func(f *TreesFile) { f.Reasons["amount"] = Reason{Code: "amount", Message: "x"} }, "upper-case"},
		{"empty message", func(f *TreesFile) { f.Reasons["amount"] = Reason{Code: "AMOUNT"} }, "message is required"},
		{"negative max_reasons", func(f *TreesFile) { n := -1; f.MaxReasons = &n }, "max_reasons"},
		{"negative reason minimum", func(f *TreesFile) { x := -1.0; f.ReasonMinContribution = &x }, "reason_min_contribution"},
		{"no model", func(f *TreesFile) { f.Model = nil }, "model is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := stumpsFile(t)
			c.edit(f)
			data, err := json.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseTrees(data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
	for name, edit := range map[string]func(string) string{
		"unknown field":             func(s string) string { return strings.Replace(s, `"kind":`, `"colour":"red","kind":`, 1) },
		"a tree child out of range": func(s string) string { return strings.Replace(s, `"left":1,"right":2`, `"left":1,"right":9`, 1) },
		"trailing data":             func(s string) string { return s + " {}" },
	} {
		t.Run(name, func(t *testing.T) {
			data, _ := json.Marshal(stumpsFile(t))
			if _, err := ParseTrees([]byte(edit(string(data)))); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestTreesCheckVariables(t *testing.T) {
	tr := mustTrees(t, stumpsFile(t))
	if err := tr.CheckVariables(known); err != nil {
		t.Errorf("known features and amount: %v", err)
	}
	if err := tr.CheckVariables([]string{"card_tx_count_1m"}); err == nil || !strings.Contains(err.Error(), "card_failed_count_10m") {
		t.Errorf("err = %v, want card_failed_count_10m unknown", err)
	}
}

func TestLoadAnyPicksTheKind(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gbtFile, _ := json.Marshal(stumpsFile(t))
	withKind := strings.Replace(string(defaultModelJSON), "{", `{"kind": "logistic",`, 1)
	cases := []struct {
		name, path, version, want string
	}{
		{"no kind is logistic", write("logistic.json", string(defaultModelJSON)), "logreg-default-1", "*model.Logistic"},
		{"kind logistic", write("logistic-kind.json", withKind), "logreg-default-1", "*model.Logistic"},
		{"kind gbt", write("gbt.json", string(gbtFile)), "gbt-test-1", "*model.Trees"},
		{"kind xgboost", "testdata/xgb_fixture.model.json", "xgb-fixture-1", "*model.Trees"},
		{"kind lightgbm", "testdata/lightgbm_fixture.model.json", "lgb-fixture-1", "*model.Leaves"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := LoadAny(c.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := typeName(m); got != c.want || m.Version() != c.version {
				t.Errorf("LoadAny = %s %s, want %s %s", got, m.Version(), c.want, c.version)
			}
		})
	}
	for name, data := range map[string]string{
		"unknown kind": `{"kind": "catboost"}`,
		"not JSON":     `kind: gbt`,
		"bad gbt":      `{"kind": "gbt"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := LoadAny(write("bad.json", data)); err == nil {
				t.Error("no error")
			}
		})
	}
}

func typeName(m Model) string {
	switch m.(type) {
	case *Logistic:
		return "*model.Logistic"
	case *Trees:
		return "*model.Trees"
	case *Leaves:
		return "*model.Leaves"
	}
	return "?"
}

func TestTreesFromTrainingEndToEnd(t *testing.T) {
	// A model trained by package gbt on a table where failures drive
	// fraud, saved and loaded as a model file, ranks that feature first
	// for a card with many failures.
	names := []string{"card_failed_count_10m", "card_tx_count_1m", "amount"}
	d := &gbt.Dataset{Features: names, Cols: make([][]float64, 3)}
	for i := range 2000 {
		failed, count, amount := float64(i%5), float64(i%3), float64(1000+i*7%5000)
		d.Cols[0] = append(d.Cols[0], failed)
		d.Cols[1] = append(d.Cols[1], count)
		d.Cols[2] = append(d.Cols[2], amount)
		y := 0.0
		if failed >= 3 && i%4 != 0 || i%17 == 0 {
			y = 1
		}
		d.Labels = append(d.Labels, y)
	}
	g, err := gbt.Train(context.Background(), d, nil, gbt.Params{NumTrees: 20, MaxDepth: 3})
	if err != nil {
		t.Fatal(err)
	}
	f := &TreesFile{Kind: KindGBT, Version: "gbt-e2e", Features: names, Thresholds: &Thresholds{Review: 0.5, Decline: 0.9}, Model: g}
	path := filepath.Join(t.TempDir(), "model.json")
	data, _ := json.Marshal(f)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := LoadTrees(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tr.Predict(context.Background(), txInput(2000, fraud.Feature{Name: "card_failed_count_10m", Value: 4}, fraud.Feature{Name: "card_tx_count_1m", Value: 1}))
	if err != nil {
		t.Fatal(err)
	}
	if p.Score < 0.5 || p.NumReasons < 1 || p.Contributions[0].Code != "CARD_FAILED_COUNT_10M" {
		t.Errorf("prediction %+v: want a high score with CARD_FAILED_COUNT_10M first", p)
	}
	if want := g.Predict([]float64{4, 1, 2000}); math.Abs(p.Score-want) > 1e-12 {
		t.Errorf("Score %v, the gbt model says %v", p.Score, want)
	}
}
