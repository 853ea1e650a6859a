// Package backtest scores labelled history with rules and a model, as the
// service would, so that a model or a rule change is judged before it
// ships: scorer evaluate reports one engine's detection on it, scorer
// backtest sets a candidate beside the active engine.
//
//	eng, _ := model.LoadEngine(model.Files{Model: "candidate.json"}, names)
//	rows, _ := backtest.ScoreTable(ctx, eng, table)
//	rep, _ := backtest.Evaluate(rows, "candidate", th)
package backtest

import (
	"context"
	"math"
	"time"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/model"
	"github.com/fraudscore/scorer/train"
)

// Row is one labelled transaction's answer.
type Row struct {
	ID       string
	Time     time.Time
	Label    bool
	Score    float64
	Decision fraud.Decision
	Reasons  []string // reason codes
	Degraded bool
}

// Alerted reports whether the answer alerts (review or decline).
func (r *Row) Alerted() bool { return r.Decision != fraud.Approve }

// ScoreTable scores each row of t with eng, from the table's feature
// columns and its amount (column amount, or else tx_amount), as the service scores
// a transaction whose features are those. t must have labels.
func ScoreTable(ctx context.Context, eng *model.Engine, t *train.Table) ([]Row, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	amount, hasAmount := t.Column("amount")
	if !hasAmount {
		// The default features carry the amount as tx_amount, which stays
		// a feature as well.
		amount, hasAmount = t.Column("tx_amount")
	}
	feats := make(fraud.Features, 0, len(t.Names))
	cols := make([][]float64, 0, len(t.Names))
	for k, name := range t.Names {
		if name == "amount" {
			continue
		}
		feats = append(feats, fraud.Feature{Name: name})
		cols = append(cols, t.Columns[k])
	}
	rows := make([]Row, t.Len())
	var tx fraud.Transaction
	for i := range rows {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		tx = fraud.Transaction{ID: t.TransactionID[i], EventTime: t.Time(i)}
		if hasAmount && !math.IsNaN(amount[i]) {
			tx.Amount = int64(math.Round(amount[i]))
		}
		for k, c := range cols {
			feats[k].Value = c[i]
		}
		out := eng.Score(ctx, model.Input{Tx: &tx, Features: feats})
		rows[i] = Row{ID: tx.ID, Time: tx.EventTime, Score: out.Score, Decision: out.Decision, Degraded: out.Degraded}
		if t.Labels != nil {
			rows[i].Label = t.Labels[i]
		}
		for _, r := range out.Reasons {
			rows[i].Reasons = append(rows[i].Reasons, r.Code)
		}
	}
	return rows, nil
}
