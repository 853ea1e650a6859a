package backtest

import (
	"github.com/fraudscore/scorer/eval"
	"github.com/fraudscore/scorer/model"
)

// Evaluate reports rows' detection (package eval): the metrics of their
// scores, the confusion matrix at the thresholds, and how often each
// reason code was given.
func Evaluate(rows []Row, title string, th model.Thresholds) (*eval.Report, error) {
	scores := make([]float64, len(rows))
	labels := make([]bool, len(rows))
	reasons := map[string]int{}
	for i := range rows {
		scores[i], labels[i] = rows[i].Score, rows[i].Label
		for _, code := range rows[i].Reasons {
			reasons[code]++
		}
	}
	return eval.Evaluate(scores, labels, eval.Options{
		Title:        title,
		Thresholds:   []eval.NamedThreshold{{Name: "review", Threshold: th.Review}, {Name: "decline", Threshold: th.Decline}},
		ReasonCounts: reasons,
	})
}
