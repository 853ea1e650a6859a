package train

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/fraudscore/scorer/eval"
	"github.com/fraudscore/scorer/model"
)

// The workflow the package is for: fit on the earlier rows, pick the
// thresholds on the later ones from business targets, write the model
// with them, and evaluate what the service will load.
func TestWorkflowThresholdsFromValidation(t *testing.T) {
	all := syntheticTable(40000, 41)
	tr, valid := SplitByTime(all, 0.3)
	m, err := FitLogistic(tr, nil, LogisticOptions{Version: "logreg-workflow"})
	if err != nil {
		t.Fatal(err)
	}
	scores, err := m.Score(valid)
	if err != nil {
		t.Fatal(err)
	}
	review := eval.ThresholdForAlertRate(scores, 0.05)
	decline, recall, ok := eval.ThresholdForPrecision(scores, valid.Labels, 0.8)
	if !ok || decline < review {
		t.Fatalf("decline %v (found %v) below review %v", decline, ok, review)
	}
	m.Thresholds = model.Thresholds{Review: review, Decline: decline}
	data, err := m.JSON()
	if err != nil {
		t.Fatal(err)
	}
	served, err := model.ParseLogistic(data)
	if err != nil {
		t.Fatal(err)
	}
	servedScores, err := ScoreModel(context.Background(), served, valid)
	if err != nil {
		t.Fatal(err)
	}
	r, err := eval.Evaluate(servedScores, valid.Labels, eval.Options{
		Title:      served.Version(),
		Thresholds: []eval.NamedThreshold{{Name: "review", Threshold: review}, {Name: "decline", Threshold: decline}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the served model alerts the asked share at review", func(t *testing.T) {
		if got := r.Thresholds[0].AlertRate; got < 0.05 || got > 0.0505 {
			t.Errorf("review alert rate %v, want 5%%", got)
		}
	})
	t.Run("the served model reaches the asked precision at decline", func(t *testing.T) {
		if d := r.Thresholds[1]; d.Precision < 0.8 || math.Abs(d.Recall-recall) > 1e-12 {
			t.Errorf("decline precision %v recall %v, chosen for recall %v", d.Precision, d.Recall, recall)
		}
	})
	t.Run("the report writes", func(t *testing.T) {
		var buf bytes.Buffer
		if err := r.WriteText(&buf); err != nil || buf.Len() == 0 {
			t.Errorf("error %v, %d bytes", err, buf.Len())
		}
	})
}
