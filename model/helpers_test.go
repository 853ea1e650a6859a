package model

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/fraudscore/scorer/fraud"
)

// known is the default velocity feature list of DESIGN.md, in its order.
var known = []string{
	"card_tx_count_1m", "card_tx_count_5m", "card_tx_count_1h", "card_tx_count_24h",
	"card_amount_sum_1h", "card_amount_sum_24h", "card_failed_count_10m",
	"card_distinct_merchants_1h", "card_seconds_since_prev",
}

// vel is a card's velocity, turned into fraud.Features by features.
type vel struct {
	n1m, n5m, n1h, n24h float64
	sum1h, sum24h       float64
	failed10m           float64
	merchants1h         float64
	sincePrev           float64
}

// quiet is a card's first transaction of the day.
func quiet(amount float64) vel {
	return vel{n1m: 1, n5m: 1, n1h: 1, n24h: 1, sum1h: amount, sum24h: amount, merchants1h: 1, sincePrev: -1}
}

func (v vel) features() fraud.Features {
	return fraud.Features{
		{Name: "card_tx_count_1m", Value: v.n1m},
		{Name: "card_tx_count_5m", Value: v.n5m},
		{Name: "card_tx_count_1h", Value: v.n1h},
		{Name: "card_tx_count_24h", Value: v.n24h},
		{Name: "card_amount_sum_1h", Value: v.sum1h},
		{Name: "card_amount_sum_24h", Value: v.sum24h},
		{Name: "card_failed_count_10m", Value: v.failed10m},
		{Name: "card_distinct_merchants_1h", Value: v.merchants1h},
		{Name: "card_seconds_since_prev", Value: v.sincePrev},
	}
}

func input(amount int64, v vel) Input {
	return Input{
		Tx: &fraud.Transaction{
			ID: "tx-1", CardID: "card-1", Amount: amount, Currency: "USD",
			EventTime: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
		},
		Features: v.features(),
	}
}

func codes(rs []fraud.Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Code
	}
	return out
}

func mustRules(t testing.TB, data string) *Rules {
	t.Helper()
	r, err := ParseRules([]byte(data), known)
	if err != nil {
		t.Fatalf("ParseRules: %v", err)
	}
	return r
}

func defaultRules(t testing.TB) *Rules {
	t.Helper()
	r, err := DefaultRules(known)
	if err != nil {
		t.Fatalf("DefaultRules: %v", err)
	}
	return r
}

// stubModel is a Model with a fixed answer that honours ctx.
type stubModel struct {
	pred       Prediction
	err        error
	thresholds *Thresholds
	calls      int
	deadline   time.Time // of the last call's ctx
}

func (m *stubModel) Predict(ctx context.Context, in Input) (Prediction, error) {
	m.calls++
	m.deadline, _ = ctx.Deadline()
	if err := ctx.Err(); err != nil {
		return Prediction{}, err
	}
	if m.err != nil {
		return Prediction{}, m.err
	}
	p := m.pred
	p.Contributions = slices.Clone(p.Contributions)
	return p, nil
}

func (m *stubModel) Version() string { return "stub-1" }

// thresholdModel is a stubModel that carries its own thresholds.
type thresholdModel struct {
	stubModel
	th Thresholds
}

func (m *thresholdModel) Thresholds() Thresholds { return m.th }
