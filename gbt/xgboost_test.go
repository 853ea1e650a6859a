package gbt

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// The fixtures under testdata come from testdata/compare_xgboost.py
// (Debian's python3-xgboost 1.7.4); these tests need no Python.

// readCompareData reads testdata/compare_data.csv into its train and test
// tables.
func readCompareData(t *testing.T) (train, test *Dataset) {
	t.Helper()
	f, err := os.Open("testdata/compare_data.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := recs[0][2:]
	mk := func() *Dataset { return &Dataset{Features: head, Cols: make([][]float64, len(head))} }
	train, test = mk(), mk()
	for _, r := range recs[1:] {
		d := train
		if r[0] == "test" {
			d = test
		}
		y, _ := strconv.ParseFloat(r[1], 64)
		d.Labels = append(d.Labels, y)
		for j, s := range r[2:] {
			v, err := strconv.ParseFloat(s, 64) // "nan" parses as NaN
			if err != nil {
				t.Fatal(err)
			}
			d.Cols[j] = append(d.Cols[j], v)
		}
	}
	return train, test
}

func TestCompareWithXGBoost(t *testing.T) {
	var expected struct {
		Version string `json:"xgboost_version"`
		Configs map[string]struct {
			Params struct {
				MaxDepth       int     `json:"max_depth"`
				Eta            float64 `json:"eta"`
				Rounds         int     `json:"rounds"`
				ScalePosWeight float64 `json:"scale_pos_weight"`
			} `json:"params"`
			AUC     float64 `json:"test_auc"`
			LogLoss float64 `json:"test_logloss"`
		} `json:"configs"`
	}
	data, err := os.ReadFile("testdata/compare_expected.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &expected); err != nil {
		t.Fatal(err)
	}
	train, test := readCompareData(t)
	for name, c := range expected.Configs {
		t.Run(name, func(t *testing.T) {
			m := mustTrain(t, train, nil, Params{
				NumTrees: c.Params.Rounds, MaxDepth: c.Params.MaxDepth, LearningRate: c.Params.Eta,
				ScalePosWeight: c.Params.ScalePosWeight, BaseScore: 0.5, // XGBoost 1.x's start
			})
			p := predictAll(m, test)
			auc, loss := AUC(test.Labels, p, nil), LogLoss(test.Labels, p, nil)
			t.Logf("held-out AUC %.4f (XGBoost %s: %.4f), logloss %.4f (XGBoost %.4f)", auc, expected.Version, c.AUC, loss, c.LogLoss)
			if math.Abs(auc-c.AUC) > 0.01 {
				t.Errorf("held-out AUC %.4f, XGBoost's %.4f: want within 0.01", auc, c.AUC)
			}
			if math.Abs(loss-c.LogLoss) > 0.02 {
				t.Errorf("held-out logloss %.4f, XGBoost's %.4f: want within 0.02", loss, c.LogLoss)
			}
		})
	}
}

func TestImportXGBoostJSON(t *testing.T) {
	data, err := os.ReadFile("testdata/xgb_small.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ImportXGBoostJSON(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Rows    [][]*float64 `json:"rows"`
		Margin  []float64    `json:"margin"`
		Prob    []float64    `json:"prob"`
		Contrib [][]float64  `json:"approx_contribs"` // per feature, then the bias
		SHAP    [][]float64  `json:"shap_contribs"`
	}
	raw, err := os.ReadFile("testdata/xgb_small_expected.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	x := make([]float64, len(m.Features))
	out := make([]float64, len(m.Features))
	for i, r := range want.Rows {
		for j, v := range r {
			x[j] = math.NaN()
			if v != nil {
				x[j] = *v
			}
		}
		if got := m.Margin(x); math.Abs(got-want.Margin[i]) > 1e-5 {
			t.Errorf("row %d %v: margin %v, XGBoost %v", i, x, got, want.Margin[i])
		}
		if got := m.Predict(x); math.Abs(got-want.Prob[i]) > 1e-6 {
			t.Errorf("row %d: probability %v, XGBoost %v", i, got, want.Prob[i])
		}
		bias := m.Contributions(x, out)
		wc := want.Contrib[i]
		if math.Abs(bias-wc[len(out)]) > 1e-5 {
			t.Errorf("row %d: bias %v, XGBoost %v", i, bias, wc[len(out)])
		}
		for j := range out {
			if math.Abs(out[j]-wc[j]) > 1e-5 {
				t.Errorf("row %d: contribution of %s %v, XGBoost %v", i, m.Features[j], out[j], wc[j])
			}
		}
		bias = m.SHAP(x, out)
		ws := want.SHAP[i]
		if math.Abs(bias-ws[len(out)]) > 1e-5 {
			t.Errorf("row %d: SHAP bias %v, XGBoost %v", i, bias, ws[len(out)])
		}
		for j := range out {
			if math.Abs(out[j]-ws[j]) > 1e-5 {
				t.Errorf("row %d: SHAP value of %s %v, XGBoost %v", i, m.Features[j], out[j], ws[j])
			}
		}
	}
}

func TestImportXGBoostJSONRejects(t *testing.T) {
	data, err := os.ReadFile("testdata/xgb_small.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ImportXGBoostJSON(data, []string{"a", "b", "c", "d", "e", "f"}); err == nil {
		t.Error("features other than the file's: no error")
	}
	for name, doc := range map[string]string{
		"not JSON":        `{`,
		"other objective": `{"learner":{"objective":{"name":"reg:squarederror"},"gradient_booster":{"name":"gbtree"}}}`,
		"linear booster":  `{"learner":{"objective":{"name":"binary:logistic"},"gradient_booster":{"name":"gblinear"}}}`,
		"child out of range": `{"learner":{"feature_names":["a"],"objective":{"name":"binary:logistic"},"learner_model_param":{"base_score":"5E-1"},"gradient_booster":{"name":"gbtree","model":{"trees":[
			{"left_children":[1,-1,-1],"right_children":[5,-1,-1],"split_indices":[0,0,0],"split_conditions":[1,2,3],"default_left":[0,0,0],"split_type":[0,0,0],"loss_changes":[1,0,0],"sum_hessian":[2,1,1]}]}}}}`,
		"feature out of range": `{"learner":{"feature_names":["a"],"objective":{"name":"binary:logistic"},"learner_model_param":{"base_score":"5E-1"},"gradient_booster":{"name":"gbtree","model":{"trees":[
			{"left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_indices":[3,0,0],"split_conditions":[1,2,3],"default_left":[0,0,0],"split_type":[0,0,0],"loss_changes":[1,0,0],"sum_hessian":[2,1,1]}]}}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ImportXGBoostJSON([]byte(doc), nil); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestXGBThresholdDecidesAsFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ts := []float32{0, 1, 3, -2.5, 0.287093401, 1e-40, -1e-40, math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32}
	for range 2000 {
		ts = append(ts, float32(rng.NormFloat64()*math.Pow(10, float64(rng.IntN(20)-10))))
	}
	for _, tf := range ts {
		thr, ok := xgbThreshold(tf)
		if !ok {
			t.Fatalf("threshold %v refused", tf)
		}
		t64 := float64(tf)
		// Around the threshold and around the halfway point below it,
		// where float32 rounding changes its mind.
		probes := []float64{t64, math.Nextafter(t64, math.Inf(-1)), math.Nextafter(t64, math.Inf(1)), thr,
			math.Nextafter(thr, math.Inf(-1)), math.Nextafter(thr, math.Inf(1)), math.Inf(1), math.Inf(-1), -1e300, 1e300}
		for _, x := range probes {
			if got, want := x < thr, float32(x) < tf; got != want {
				t.Errorf("t=%v x=%v: x < %v is %v, float32(x) < t is %v", tf, x, thr, got, want)
			}
		}
	}
}
