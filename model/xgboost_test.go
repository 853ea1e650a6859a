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
)

// The XGBoost fixture comes from testdata/xgb_fixture.py (Debian's
// python3-xgboost 1.7.4); the test needs no Python.

// rowInput turns a fixture row (nil: missing) into an Input: amount on the
// transaction, the rest as velocity features.
func rowInput(t *testing.T, names []string, row []*float64) Input {
	t.Helper()
	in := Input{}
	for j, v := range row {
		if v == nil {
			continue
		}
		if names[j] == "amount" {
			in.Tx = &fraud.Transaction{ID: "tx", CardID: "card", Amount: int64(*v), Currency: "USD"}
			if float64(in.Tx.Amount) != *v {
				t.Fatalf("amount %v is not whole minor units", *v)
			}
			continue
		}
		in.Features = append(in.Features, fraud.Feature{Name: names[j], Value: *v})
	}
	return in
}

func TestXGBoostModelPredictsAsXGBoost(t *testing.T) {
	m, err := LoadExternal("testdata/xgb_fixture.model.json")
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Features []string     `json:"features"`
		Rows     [][]*float64 `json:"rows"`
		Prob     []float64    `json:"prob"`
		Contrib  [][]float64  `json:"approx_contribs"`
	}
	data, err := os.ReadFile("testdata/xgb_fixture.expected.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	tr := m.(*Trees)
	if tr.Thresholds() != (Thresholds{Review: 0.5, Decline: 0.85}) {
		t.Errorf("thresholds %+v", tr.Thresholds())
	}
	for i, row := range want.Rows {
		p, err := m.Predict(context.Background(), rowInput(t, want.Features, row))
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(p.Score-want.Prob[i]) > 1e-6 {
			t.Errorf("row %d: score %v, XGBoost %v", i, p.Score, want.Prob[i])
		}
		// The contributions are XGBoost's approximate ones, by feature.
		for _, c := range p.Contributions {
			j := indexOf(want.Features, c.Feature)
			if math.Abs(c.Value-want.Contrib[i][j]) > 1e-5 {
				t.Errorf("row %d: %s contributes %v, XGBoost %v", i, c.Feature, c.Value, want.Contrib[i][j])
			}
		}
	}
}

func indexOf(s []string, x string) int {
	for i := range s {
		if s[i] == x {
			return i
		}
	}
	return -1
}

func TestXGBoostModelGivesReasons(t *testing.T) {
	m, err := LoadExternal("testdata/xgb_fixture.model.json")
	if err != nil {
		t.Fatal(err)
	}
	// Many failures on a busy card: the file's own code for failures
	// comes first, and the other features get codes from their names.
	in := Input{
		Tx: &fraud.Transaction{ID: "tx", CardID: "card", Amount: 90000, Currency: "USD"},
		Features: fraud.Features{
			{Name: "card_tx_count_1m", Value: 6}, {Name: "card_failed_count_10m", Value: 4},
			{Name: "card_amount_sum_24h", Value: 8000}, {Name: "card_seconds_since_prev", Value: 5},
		},
	}
	p, err := m.Predict(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if p.Score < 0.5 || p.NumReasons < 2 {
		t.Fatalf("prediction %+v: want a review-level score with reasons", p)
	}
	var got []string
	for _, c := range p.Contributions[:p.NumReasons] {
		got = append(got, c.Code)
	}
	if !strings.Contains(strings.Join(got, " "), "CARD_FAILURES_10M") || !strings.Contains(strings.Join(got, " "), "CARD_TX_COUNT_1M") {
		t.Errorf("reasons %v, want CARD_FAILURES_10M and CARD_TX_COUNT_1M", got)
	}
}

func TestLightGBMModelThroughLeaves(t *testing.T) {
	// testdata/lightgbm_fixture.txt, by hand:
	//   tree 0: card_tx_count_1m <= 2 (NaN left) ? -1.5
	//           : amount <= 5000 (NaN read as 0) ? 0.5 : 2
	//   tree 1: amount <= 100.5 (NaN read as 0) ? -0.25 : 0.25
	cases := []struct {
		name   string
		in     Input
		margin float64
	}{
		{"few transactions, small amount", txInput(50, fraud.Feature{Name: "card_tx_count_1m", Value: 1}), -1.5 - 0.25},
		{"many transactions, large amount", txInput(6000, fraud.Feature{Name: "card_tx_count_1m", Value: 5}), 2 + 0.25},
		{"a value equal to the threshold goes left, as LightGBM's <=", txInput(5000, fraud.Feature{Name: "card_tx_count_1m", Value: 3}), 0.5 + 0.25},
		{"missing count goes the default way", txInput(200), -1.5 + 0.25},
		{"no transaction: amount missing reads as 0", Input{Features: fraud.Features{{Name: "card_tx_count_1m", Value: 5}}}, 0.5 - 0.25},
	}
	m, err := LoadExternal("testdata/lightgbm_fixture.model.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := m.Predict(context.Background(), c.in)
			if err != nil {
				t.Fatal(err)
			}
			if want := 1 / (1 + math.Exp(-c.margin)); math.Abs(p.Score-want) > 1e-12 {
				t.Errorf("score %v, want sigmoid(%v) = %v", p.Score, c.margin, want)
			}
			if len(p.Contributions) != 0 || p.NumReasons != 0 {
				t.Errorf("contributions %+v: leaves gives none", p.Contributions)
			}
		})
	}
	if err := m.(*Leaves).CheckVariables(known); err != nil {
		t.Errorf("CheckVariables: %v", err)
	}
}

func TestLoadExternalRejects(t *testing.T) {
	dir := t.TempDir()
	abs := func(name string) string {
		p, err := filepath.Abs(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("garbage.txt", "tree\nversion=v3\nnum_class=1\n")
	cases := []struct {
		name, file, want string
	}{
		{
			// leaves would read the "binf" magic of XGBoost >= 1.0 as a
			// string length and run out of memory: refused before that.
			"XGBoost binary format",
			`{"kind":"xgboost","version":"v","features":["card_tx_count_1m","card_failed_count_10m","card_amount_sum_24h","card_seconds_since_prev","amount"],"thresholds":{"review":0.5,"decline":0.8},"path":"` + abs("xgb_fixture.xgb.bin") + `"}`,
			"binary format is not supported",
		},
		{
			"XGBoost features other than the model's",
			`{"kind":"xgboost","version":"v","features":["a","b","c","d","e"],"thresholds":{"review":0.5,"decline":0.8},"path":"` + abs("xgb_fixture.xgb.json") + `"}`,
			"feature names",
		},
		{
			"fewer features than the LightGBM model reads",
			`{"kind":"lightgbm","version":"v","features":["card_tx_count_1m"],"thresholds":{"review":0.5,"decline":0.8},"path":"` + abs("lightgbm_fixture.txt") + `"}`,
			"reads 2 features",
		},
		{
			"a malformed LightGBM file",
			`{"kind":"lightgbm","version":"v","features":["a"],"thresholds":{"review":0.5,"decline":0.8},"path":"garbage.txt"}`,
			"leaves",
		},
		{
			"reasons for a LightGBM model",
			`{"kind":"lightgbm","version":"v","features":["card_tx_count_1m","amount"],"thresholds":{"review":0.5,"decline":0.8},"path":"` + abs("lightgbm_fixture.txt") + `","max_reasons":2}`,
			"reasons need contributions",
		},
		{"missing model file", `{"kind":"lightgbm","version":"v","features":["a"],"thresholds":{"review":0.5,"decline":0.8},"path":"none.txt"}`, "none.txt"},
		{"no path", `{"kind":"xgboost","version":"v","features":["a"],"thresholds":{"review":0.5,"decline":0.8}}`, "path is required"},
		{"bad thresholds", `{"kind":"xgboost","version":"v","features":["a"],"thresholds":{"review":0.9,"decline":0.8},"path":"m.json"}`, "review <= decline"},
		{"duplicate feature", `{"kind":"xgboost","version":"v","features":["a","a"],"thresholds":{"review":0.5,"decline":0.8},"path":"m.json"}`, "duplicate"},
		{"unknown field", `{"kind":"xgboost","version":"v","features":["a"],"thresholds":{"review":0.5,"decline":0.8},"path":"m.json","format":"json"}`, "unknown field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadExternal(write("model.json", c.file))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}

// TestBareXGBoostFileSaysWhatItNeeds: XGBoost's own JSON given as the
// model gets an error that says how to load it, not a logistic field
// complaint.
func TestBareXGBoostFileSaysWhatItNeeds(t *testing.T) {
	_, err := ParseAny([]byte(`{"learner": {"attributes": {}}, "version": [1, 7, 4]}`))
	if err == nil || !strings.Contains(err.Error(), `"kind": "xgboost"`) {
		t.Fatalf("err = %v, want it to say how to wrap the file", err)
	}
}
