package train

import (
	"context"
	"slices"
	"testing"

	"github.com/fraudscore/scorer/eval"
	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/gbt"
	"github.com/fraudscore/scorer/model"
)

// TestFitRecoversTheSignal trains both kinds on a table whose labels
// depend on two features only: each reaches the AUC the true log-odds
// give, ranks the two first, and writes a file that loads and scores
// exactly as the trained model did.
func TestFitRecoversTheSignal(t *testing.T) {
	table := syntheticTable(20000, 7)
	_, valid := SplitByTime(table, 0.2)
	truth := make([]float64, valid.Len())
	count, _ := valid.Column(informativeCount)
	risk, _ := valid.Column(informativeRisk)
	for i := range truth {
		truth[i] = trueLogit(count[i], risk[i])
	}
	best := eval.ROCAUC(truth, valid.Labels)

	for _, kind := range []Kind{GBT, Logistic} {
		t.Run(string(kind), func(t *testing.T) {
			out, err := Fit(context.Background(), table, Config{
				Kind: kind, Version: "synthetic-" + string(kind),
				Trees: gbt.Params{NumTrees: 150, MaxDepth: 3},
			})
			if err != nil {
				t.Fatal(err)
			}
			if auc := out.Validation.ROCAUC; auc < best-0.02 {
				t.Errorf("validation AUC %.4f, the true log-odds reach %.4f", auc, best)
			}
			var top []string
			for _, imp := range out.Importance[:2] {
				top = append(top, imp.Feature)
			}
			slices.Sort(top)
			if want := []string{informativeCount, informativeRisk}; !slices.Equal(top, want) {
				t.Errorf("most important features %v, want %v (all: %+v)", top, want, out.Importance)
			}
			if out.TrainTo.After(out.ValidFrom) {
				t.Errorf("training ends %v after validation starts %v", out.TrainTo, out.ValidFrom)
			}
			th := out.Thresholds
			if !(th.Review > 0 && th.Review <= th.Decline && th.Decline <= 1) {
				t.Errorf("thresholds %+v", th)
			}

			// The file round-trips: loaded again, it scores the
			// validation rows exactly as the trained model.
			loaded, err := model.ParseAny(out.File)
			if err != nil {
				t.Fatal(err)
			}
			if loaded.Version() != "synthetic-"+string(kind) {
				t.Errorf("version %q", loaded.Version())
			}
			a, err := ScoreModel(context.Background(), out.Model, valid)
			if err != nil {
				t.Fatal(err)
			}
			b, err := ScoreModel(context.Background(), loaded, valid)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a, b) {
				t.Error("the loaded model scores differently from the trained one")
			}
			if got := eval.ROCAUC(b, valid.Labels); got != out.Validation.ROCAUC {
				t.Errorf("the loaded model's AUC %.6f, the validation report's %.6f", got, out.Validation.ROCAUC)
			}
			if tr, ok := loaded.(model.Thresholder); !ok || tr.Thresholds() != th {
				t.Errorf("loaded thresholds differ from %+v", th)
			}
		})
	}
}

// TestPickThresholds checks the thresholds against the targets on a
// hand-made validation split.
func TestPickThresholds(t *testing.T) {
	// 100 rows: scores 0.01..1.00; the top 5 are fraud, then 1 of the
	// next 5.
	scores := make([]float64, 100)
	labels := make([]bool, 100)
	for i := range scores {
		scores[i] = float64(i+1) / 100
	}
	for _, i := range []int{99, 98, 97, 96, 95, 92} {
		labels[i] = true
	}
	for _, tc := range []struct {
		name string
		tg   Targets
		want model.Thresholds
	}{
		// 10% alert rate: the 10th highest score; precision 1: the
		// lowest threshold where every alert is fraud.
		{"both", Targets{AlertRate: 0.1, Precision: 1}, model.Thresholds{Review: 0.91, Decline: 0.96}},
		// alert rate alone: decline at a tenth of it (the top row).
		{"rate", Targets{AlertRate: 0.1}, model.Thresholds{Review: 0.91, Decline: 1}},
		// precision alone: review where half of it (0.5) is reached.
		{"precision", Targets{Precision: 1}, model.Thresholds{Review: 0.89, Decline: 0.96}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PickThresholds(scores, labels, tc.tg)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("PickThresholds(%+v) = %+v, want %+v", tc.tg, got, tc.want)
			}
		})
	}
	if _, err := PickThresholds(scores, labels, Targets{AlertRate: 2}); err == nil {
		t.Error("an alert rate of 2 was accepted")
	}
}

// TestReasonsCoverTheDefaultFeatures: every default feature has a reason
// named for an analyst, not the generic fallback, and the catalog names
// no feature that does not exist.
func TestReasonsCoverTheDefaultFeatures(t *testing.T) {
	names := features.Default().Names()
	for _, name := range names {
		if r := ReasonFor(name); r == model.DefaultReason(name) {
			t.Errorf("feature %s has only the generic reason %q", name, r.Code)
		}
	}
	for name := range reasons {
		if name != "amount" && !slices.Contains(names, name) {
			t.Errorf("the catalog names %s, which is no default feature", name)
		}
	}
	// A model's reason never takes a rule's code: "CARD_VELOCITY_1M" from
	// the rule means 5 or more in a minute, from the model it could be 1.
	rules, err := model.DefaultRules(append(names, model.TransactionVariables()...))
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range reasons {
		if slices.Contains(rules.Codes(), r.Code) {
			t.Errorf("feature %s's reason %s is also a default rule's code", name, r.Code)
		}
	}
}
