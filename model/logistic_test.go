package model

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fraudscore/scorer/fraud"
)

// twoFeatures: z = -1 + 2*(n1m-1)/1 + 0.5*(log1p(amount)-0)/1.
const twoFeatures = `{
  "version": "lr-test",
  "intercept": -1,
  "thresholds": {"review": 0.5, "decline": 0.9},
  "features": [
    {"name": "card_tx_count_1m", "weight": 2, "mean": 1, "scale": 1, "transform": "none", "code": "V1M", "message": "velocity"},
    {"name": "amount", "weight": 0.5, "mean": 0, "scale": 1, "transform": "log1p", "code": "AMT", "message": "amount"}
  ]
}`

func mustLogistic(t testing.TB, data string) *Logistic {
	t.Helper()
	l, err := ParseLogistic([]byte(data))
	if err != nil {
		t.Fatalf("ParseLogistic: %v", err)
	}
	return l
}

func TestParseLogisticErrors(t *testing.T) {
	edit := func(old, new string) string { return strings.Replace(twoFeatures, old, new, 1) }
	tests := []struct {
		name string
		give string
		want string // substring of the error
	}{
		{"malformed JSON", edit(`"version"`, `version`), "logistic model:"},
		{"unknown field", edit(`"intercept"`, `"bias": 1, "intercept"`), `unknown field "bias"`},
		{"trailing data", twoFeatures + "{}", "after the JSON object"},
		{"missing version", edit(`"version": "lr-test",`, ``), "version is required"},
		{"missing intercept", edit(`"intercept": -1,`, ``), "intercept is required"},
		{"missing thresholds", edit(`"thresholds": {"review": 0.5, "decline": 0.9},`, ``), "thresholds are required"},
		{"zero review threshold", edit(`"review": 0.5`, `"review": 0`), "0 < review <= decline <= 1"},
		{"review above decline", edit(`"review": 0.5`, `"review": 0.95`), "0 < review <= decline <= 1"},
		{"decline above 1", edit(`"decline": 0.9`, `"decline": 1.1`), "0 < review <= decline <= 1"},
		{"no features", `{"version":"v","intercept":0,"thresholds":{"review":0.5,"decline":0.9},"features":[]}`, "at least one is required"},
		{"empty name", edit(`"name": "amount"`, `"name": ""`), "features[1]: name is required"},
		{"duplicate name", edit(`"name": "amount"`, `"name": "card_tx_count_1m"`), "features[1] card_tx_count_1m: duplicate feature"},
		{"zero scale", edit(`"mean": 0, "scale": 1`, `"mean": 0, "scale": 0`), "features[1] amount: scale must be > 0"},
		{"negative scale", edit(`"mean": 0, "scale": 1`, `"mean": 0, "scale": -2`), "scale must be > 0"},
		{"unknown transform", edit(`"transform": "log1p"`, `"transform": "sqrt"`), `unknown transform "sqrt"`},
		{"lower-case code", edit(`"code": "AMT"`, `"code": "amt"`), "features[1] amount: code must be upper-case"},
		{"missing message", edit(`"message": "amount"`, `"message": ""`), "features[1] amount: message is required"},
		{"negative reason_min_contribution", edit(`"intercept"`, `"reason_min_contribution": -1, "intercept"`), "reason_min_contribution must be >= 0"},
		{"negative max_reasons", edit(`"intercept"`, `"max_reasons": -1, "intercept"`), "max_reasons must be >= 0"},
		{"every problem is reported", strings.Replace(edit(`"review": 0.5`, `"review": 0`), `"code": "AMT"`, `"code": "amt"`, 1), "code must be upper-case"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseLogistic([]byte(tt.give))
			if err == nil {
				t.Fatalf("ParseLogistic succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestLogisticPredict(t *testing.T) {
	l := mustLogistic(t, twoFeatures)
	tests := []struct {
		name     string
		give     Input
		want     []Contribution
		wantNum  int
		wantLogi float64
	}{
		{
			name: "contributions are sorted largest first",
			give: Input{Tx: &fraud.Transaction{Amount: 99}, Features: fraud.Features{{Name: "card_tx_count_1m", Value: 4}}},
			want: []Contribution{
				{Feature: "card_tx_count_1m", Value: 6, Code: "V1M", Message: "velocity"},
				{Feature: "amount", Value: 0.5 * math.Log1p(99), Code: "AMT", Message: "amount"},
			},
			wantNum:  2,
			wantLogi: -1 + 6 + 0.5*math.Log1p(99),
		},
		{
			name: "missing feature reads as 0 and small contributions are no reasons",
			give: Input{Tx: &fraud.Transaction{Amount: 0}},
			want: []Contribution{
				{Feature: "amount", Value: 0, Code: "AMT", Message: "amount"},
				{Feature: "card_tx_count_1m", Value: -2, Code: "V1M", Message: "velocity"},
			},
			wantNum:  0,
			wantLogi: -3,
		},
		{
			name: "nil transaction reads amount as 0",
			give: Input{Features: fraud.Features{{Name: "card_tx_count_1m", Value: 1}}},
			want: []Contribution{
				{Feature: "card_tx_count_1m", Value: 0, Code: "V1M", Message: "velocity"},
				{Feature: "amount", Value: 0, Code: "AMT", Message: "amount"},
			},
			wantLogi: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Predict(context.Background(), tt.give)
			if err != nil {
				t.Fatal(err)
			}
			if want := sigmoid(tt.wantLogi); math.Abs(got.Score-want) > 1e-12 {
				t.Errorf("score = %v, want %v", got.Score, want)
			}
			if !slices.EqualFunc(got.Contributions, tt.want, func(a, b Contribution) bool {
				return a.Feature == b.Feature && a.Code == b.Code && a.Message == b.Message && math.Abs(a.Value-b.Value) < 1e-12
			}) {
				t.Errorf("contributions = %+v, want %+v", got.Contributions, tt.want)
			}
			if got.NumReasons != tt.wantNum {
				t.Errorf("NumReasons = %d, want %d", got.NumReasons, tt.wantNum)
			}
		})
	}
}

func TestLogisticReasonLimits(t *testing.T) {
	give := Input{Tx: &fraud.Transaction{Amount: 99}, Features: fraud.Features{{Name: "card_tx_count_1m", Value: 4}}}
	tests := []struct {
		name string
		give string // inserted before "intercept"
		want int
	}{
		{"default keeps contributions above 0.5", ``, 2},
		{"max_reasons caps them", `"max_reasons": 1,`, 1},
		{"reason_min_contribution filters them", `"reason_min_contribution": 3,`, 1},
		{"max_reasons 0 gives none", `"max_reasons": 0,`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := mustLogistic(t, strings.Replace(twoFeatures, `"intercept"`, tt.give+`"intercept"`, 1))
			got, _ := l.Predict(context.Background(), give)
			if got.NumReasons != tt.want {
				t.Errorf("NumReasons = %d, want %d", got.NumReasons, tt.want)
			}
		})
	}
}

func TestLogisticPredictHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := DefaultLogistic().Predict(ctx, input(2000, quiet(2000)))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Predict on a cancelled ctx = %v, want context.Canceled", err)
	}
}

func TestDefaultLogistic(t *testing.T) {
	l := DefaultLogistic()
	if l.Version() == "" {
		t.Error("default model has no version")
	}
	burst := vel{n1m: 7, n5m: 7, n1h: 7, n24h: 8, sum1h: 6*2500 + 300000, sum24h: 6*2500 + 300000 + 4000, merchants1h: 3, sincePrev: 8}
	tests := []struct {
		name   string
		give   Input
		wantLo float64
		wantHi float64
	}{
		{"ordinary $20 purchase scores low", input(2000, quiet(2000)), 0, 0.1},
		{"ordinary $20 purchase an hour after the last scores low", input(2000, vel{n1m: 1, n5m: 1, n1h: 1, n24h: 3, sum1h: 2000, sum24h: 9000, merchants1h: 1, sincePrev: 3600}), 0, 0.1},
		{"$20 purchase with features missing scores low", Input{Tx: &fraud.Transaction{Amount: 2000}}, 0, 0.1},
		{"$3,000 purchase after 6 in a minute scores high", input(300000, burst), 0.85, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := l.Predict(context.Background(), tt.give)
			if err != nil {
				t.Fatal(err)
			}
			if p.Score < tt.wantLo || p.Score > tt.wantHi {
				t.Errorf("score = %.4f, want in [%v, %v]; contributions %+v", p.Score, tt.wantLo, tt.wantHi, p.Contributions)
			}
		})
	}
}

func TestSecondsSincePrevNoneIsNeutral(t *testing.T) {
	l := DefaultLogistic()
	contribution := func(in Input) float64 {
		t.Helper()
		p, _ := l.Predict(context.Background(), in)
		for _, c := range p.Contributions {
			if c.Feature == "card_seconds_since_prev" {
				return c.Value
			}
		}
		t.Fatal("no card_seconds_since_prev contribution")
		return 0
	}
	v := quiet(2000)
	if got := contribution(input(2000, v)); got != 0 {
		t.Errorf("-1 (no previous transaction) contributes %v, want 0", got)
	}
	if got := contribution(Input{Tx: &fraud.Transaction{Amount: 2000}}); got != 0 {
		t.Errorf("absent feature contributes %v, want 0", got)
	}
	v.sincePrev = 5
	if got := contribution(input(2000, v)); got <= 0.5 {
		t.Errorf("5 seconds since the previous transaction contributes %v, want > 0.5", got)
	}
}

func TestLogisticPredictAllocatesOnlyContributions(t *testing.T) {
	l, in := DefaultLogistic(), input(2000, quiet(2000))
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { l.Predict(ctx, in) }); n > 1 {
		t.Errorf("Predict allocates %v times, want at most 1", n)
	}
}

func TestLoadLogistic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.json")
	if err := os.WriteFile(path, []byte(twoFeatures), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := LoadLogistic(path)
	if err != nil {
		t.Fatalf("LoadLogistic: %v", err)
	}
	if got, want := l.Thresholds(), (Thresholds{Review: 0.5, Decline: 0.9}); got != want {
		t.Errorf("Thresholds() = %v, want %v", got, want)
	}
	if _, err := LoadLogistic(path + ".missing"); err == nil {
		t.Error("LoadLogistic of a missing file succeeded")
	}
}

func TestCheckVariables(t *testing.T) {
	l := mustLogistic(t, strings.Replace(twoFeatures, `"name": "card_tx_count_1m"`, `"name": "card_tx_count_2m"`, 1))
	if err := l.CheckVariables(known); err == nil || !strings.Contains(err.Error(), "card_tx_count_2m") {
		t.Errorf("CheckVariables = %v, want an error naming card_tx_count_2m", err)
	}
}
