package train

import (
	"context"
	"fmt"
	"math"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/model"
)

// ScoreModel scores every row of t with m, as the service would: the
// Input's Features are the table's feature columns by name, and its Tx
// carries the transaction id, the event time and, when the table has an
// "amount" column, the amount (rounded to minor units). The card id is
// not passed. The Input is reused from row to row, so m must not keep it
// after Predict returns (the models of package model do not).
func ScoreModel(ctx context.Context, m model.Model, t *Table) ([]float64, error) {
	amount, hasAmount := t.Column("amount")
	feats := make(fraud.Features, len(t.Names))
	for k, name := range t.Names {
		feats[k].Name = name
	}
	var tx fraud.Transaction
	in := model.Input{Tx: &tx, Features: feats}
	out := make([]float64, t.Len())
	for i := range out {
		tx = fraud.Transaction{ID: t.TransactionID[i], EventTime: t.Time(i)}
		if hasAmount && !math.IsNaN(amount[i]) {
			tx.Amount = int64(math.Round(amount[i]))
		}
		for k, col := range t.Columns {
			feats[k].Value = col[i]
		}
		p, err := m.Predict(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("train: scoring row %d: %w", i, err)
		}
		out[i] = p.Score
	}
	return out, nil
}
