package features

import (
	"slices"

	"github.com/fraudscore/scorer/fraud"
)

// Stateless writes into out the stateless features of tx: call it after
// every entity's Compute (or Empty), since ratios read those values.
func (s *Set) Stateless(tx *fraud.Transaction, out []float64) {
	for _, i := range s.stateless {
		d := &s.defs[i]
		switch d.Stateless {
		case HourOfDay:
			out[i] = float64(tx.EventTime.UTC().Hour())
		case DayOfWeek:
			out[i] = float64(tx.EventTime.UTC().Weekday())
		case Amount:
			out[i] = float64(tx.Amount)
		case MerchantCategory:
			out[i] = float64(slices.Index(d.Values, tx.MerchantCategory) + 1)
		case Channel:
			out[i] = float64(slices.Index(d.Values, tx.Channel) + 1)
		case Match:
			out[i] = 0
			if d.Filter.Match(tx) {
				out[i] = 1
			}
		case Ratio:
			if den := operand(tx, out, d.Of[1]); den != 0 {
				out[i] = operand(tx, out, d.Of[0]) / den
			} else {
				out[i] = 0
			}
		}
	}
}

// operand is a ratio's numerator or denominator: feature k's value, or the
// amount.
func operand(tx *fraud.Transaction, out []float64, k int) float64 {
	if k == OfAmount {
		return float64(tx.Amount)
	}
	return out[k]
}

// Features is the convenience of computing every feature of tx from the
// logs of its entities (nil for an entity tx lacks) into named values: for
// tests, batch tools and the evaluator; the store does the same with its
// own logs. selfAt[e] is tx's index in logs[e], or -1.
func (s *Set) Features(tx *fraud.Transaction, logs []*Log, selfAt []int) fraud.Features {
	vals := make([]float64, len(s.defs))
	t := tx.EventTime.UnixNano()
	for e := range s.entities {
		if logs[e] == nil {
			s.Empty(e, vals)
			continue
		}
		logs[e].Compute(s, e, t, selfAt[e], vals)
	}
	s.Stateless(tx, vals)
	return s.Named(vals)
}

// Named pairs values (indexed like the set) with the feature names.
func (s *Set) Named(vals []float64) fraud.Features {
	out := make(fraud.Features, len(vals))
	for i, v := range vals {
		out[i] = fraud.Feature{Name: s.names[i], Value: v}
	}
	return out
}
