package gbt

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// twoStumps is a model small enough to work out by hand:
//
//	tree 0: a < 2 ? 0.5 (cover 3) : -0.5 (cover 1), missing left
//	tree 1: b < 0 ? -0.2 (cover 1) : 0.4 (cover 1), missing right
//
// Expected values: tree 0's root (3*0.5 - 0.5)/4 = 0.25, tree 1's 0.1, so
// the bias is -1 + 0.25 + 0.1 = -0.65.
func twoStumps(t testing.TB) *Model {
	t.Helper()
	m, err := NewModel([]string{"a", "b"}, -1, []Tree{
		{Nodes: []Node{
			{Feature: 0, Threshold: 2, DefaultLeft: true, Left: 1, Right: 2, Gain: 3, Cover: 4},
			{Left: -1, Right: -1, Value: 0.5, Cover: 3},
			{Left: -1, Right: -1, Value: -0.5, Cover: 1},
		}},
		{Nodes: []Node{
			{Feature: 1, Threshold: 0, Left: 1, Right: 2, Gain: 1, Cover: 2},
			{Left: -1, Right: -1, Value: -0.2, Cover: 1},
			{Left: -1, Right: -1, Value: 0.4, Cover: 1},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTwoStumpsByHand(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name   string
		x      []float64
		margin float64
		contr  []float64
	}{
		{"both left-hand thresholds passed on the common sides", []float64{1, 5}, -1 + 0.5 + 0.4, []float64{0.25, 0.3}},
		{"a missing goes left, b below its threshold", []float64{nan, -1}, -1 + 0.5 - 0.2, []float64{0.25, -0.3}},
		{"a equal to its threshold goes right, b missing goes right", []float64{2, nan}, -1 - 0.5 + 0.4, []float64{-0.75, 0.3}},
	}
	m := twoStumps(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := m.Margin(c.x); math.Abs(got-c.margin) > 1e-15 {
				t.Errorf("Margin = %v, want %v", got, c.margin)
			}
			if got, want := m.Predict(c.x), 1/(1+math.Exp(-c.margin)); math.Abs(got-want) > 1e-15 {
				t.Errorf("Predict = %v, want %v", got, want)
			}
			out := make([]float64, 2)
			bias := m.Contributions(c.x, out)
			if math.Abs(bias - -0.65) > 1e-15 {
				t.Errorf("bias = %v, want -0.65", bias)
			}
			for j := range out {
				if math.Abs(out[j]-c.contr[j]) > 1e-15 {
					t.Errorf("contribution of %s = %v, want %v", m.Features[j], out[j], c.contr[j])
				}
			}
		})
	}
	if got := m.ExpectedMargin(); math.Abs(got - -0.65) > 1e-15 {
		t.Errorf("ExpectedMargin = %v, want -0.65", got)
	}
	imp := m.Importance()
	if imp[0].Feature != "a" || imp[0].Gain != 3 || imp[1].Feature != "b" || imp[1].Splits != 1 {
		t.Errorf("Importance = %+v, want a (gain 3) then b", imp)
	}
}

// trained is a small model with missing values in its training data, for
// the tests of whole-model properties.
func trained(t testing.TB) (*Model, *Dataset) {
	t.Helper()
	prob := func(x []float64) float64 { return sigmoid(x[0] + 2*x[1]*x[2] - x[3]) }
	d := table(3000, 5, 1, prob)
	rng := rand.New(rand.NewPCG(5, 5))
	for _, c := range d.Cols {
		for i := range c {
			if rng.Float64() < 0.1 {
				c[i] = math.NaN()
			}
		}
	}
	return mustTrain(t, d, nil, Params{NumTrees: 30, MaxDepth: 4, ColSample: 0.8}), d
}

func TestContributionsSumToTheMargin(t *testing.T) {
	m, d := trained(t)
	x := make([]float64, len(d.Cols))
	out := make([]float64, len(d.Cols))
	for i := 0; i < 500; i++ {
		d.Row(i, x)
		bias := m.Contributions(x, out)
		sum := bias
		for _, c := range out {
			sum += c
		}
		if margin := m.Margin(x); math.Abs(sum-margin) > 1e-12 {
			t.Fatalf("row %d: bias %v + contributions %v = %v, margin %v", i, bias, out, sum, margin)
		}
	}
}

func TestPredictionDoesNotAllocate(t *testing.T) {
	m, d := trained(t)
	x := d.Row(7, make([]float64, len(d.Cols)))
	out := make([]float64, len(d.Cols))
	for name, fn := range map[string]func(){
		"Predict":       func() { m.Predict(x) },
		"Margin":        func() { m.Margin(x) },
		"Contributions": func() { m.Contributions(x, out) },
	} {
		if a := testing.AllocsPerRun(100, fn); a != 0 {
			t.Errorf("%s: %v allocations, want 0", name, a)
		}
	}
}

func TestSaveLoadRoundTripGivesIdenticalPredictions(t *testing.T) {
	m, d := trained(t)
	path := filepath.Join(t.TempDir(), "model.json")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	l, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float64, len(d.Cols))
	oa, ob := make([]float64, len(x)), make([]float64, len(x))
	for i := 0; i < d.Rows(); i++ {
		d.Row(i, x)
		if a, b := m.Margin(x), l.Margin(x); a != b {
			t.Fatalf("row %d: margin %v before saving, %v after", i, a, b)
		}
		if a, b := m.Contributions(x, oa), l.Contributions(x, ob); a != b || !equalFloats(oa, ob) {
			t.Fatalf("row %d: contributions differ after loading", i)
		}
	}
	if l.Meta["max_depth"] != float64(4) {
		t.Errorf("meta max_depth = %v, want 4", l.Meta["max_depth"])
	}
}

func equalFloats(a, b []float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestParseRejectsInvalidModels(t *testing.T) {
	valid, err := json.Marshal(twoStumps(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(valid); err != nil {
		t.Fatalf("the valid model: %v", err)
	}
	s := string(valid)
	cases := []struct {
		name, from, to, want string
	}{
		{"other format", `"format":"gbt"`, `"format":"xgboost"`, "format"},
		{"newer format version", `"format_version":1`, `"format_version":2`, "format_version"},
		{"other objective", `"binary:logistic"`, `"reg:squarederror"`, "objective"},
		{"no base margin", `"base_margin":-1,`, ``, "base_margin"},
		{"child out of range", `"left":1,"right":2`, `"left":1,"right":7`, "child 7"},
		{"child before its parent, a cycle", `"left":1,"right":2`, `"left":1,"right":0`, "child 0"},
		{"feature out of range", `"feature":1,`, `"feature":2,`, "feature 2"},
		{"negative feature", `"feature":1,`, `"feature":-3,`, "feature -3"},
		{"number too large for a float64", `"value":0.4`, `"value":1e999`, "1e999"},
		{"unknown field", `"features":`, `"extra":1,"features":`, "unknown field"},
		{"duplicate feature name", `["a","b"]`, `["a","a"]`, "duplicate"},
		{"no nodes", `{"nodes":[{"feature":1`, `{"nodes":[]},{"nodes":[{"feature":1`, "no nodes"},
		{"trailing data", `"cover":1}]}]}`, `"cover":1}]}]} {}`, "after"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(s, c.from, c.to, 1)
			if bad == s {
				t.Fatalf("the edit %q -> %q did not apply to %s", c.from, c.to, s)
			}
			_, err := Parse([]byte(bad))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}

// FuzzParse checks that no input makes Parse or a parsed model panic.
func FuzzParse(f *testing.F) {
	valid, _ := json.Marshal(twoStumps(f))
	f.Add(valid)
	f.Add([]byte(`{"format":"gbt","format_version":1,"objective":"binary:logistic","features":["a"],"base_margin":0,"trees":[{"nodes":[{"feature":0,"left":1,"right":1}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		x := make([]float64, len(m.Features))
		m.Predict(x)
		m.Contributions(x, make([]float64, len(x)))
	})
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none.json")); !os.IsNotExist(err) {
		t.Errorf("err = %v, want not-exist", err)
	}
}
