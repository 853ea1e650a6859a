// Package velocity computes per-card sliding-window features in event time
// and keeps the state they need, and the seen-transactions index, in Badger.
//
// Features are declared as data (a list of Definition) so that the same
// definitions can later drive a config file and a batch backfill:
//
//	store, err := velocity.Open(db, velocity.Options{Definitions: velocity.DefaultDefinitions()})
//	op, err := store.Begin(ctx, &tx)  // claims tx.ID, updates the card, returns features
//	err = op.Commit(ctx, resultJSON)  // stores the result with the velocity update, durably
package velocity

import (
	"fmt"
	"time"
)

// Aggregation is what a feature computes over its window.
type Aggregation string

const (
	// Count counts the events in the window.
	Count Aggregation = "count"
	// Sum adds up Field (only "amount") over the window.
	Sum Aggregation = "sum"
	// Distinct counts the distinct non-empty values of Field (only
	// "merchant_id") over the window.
	Distinct Aggregation = "distinct"
	// SincePrev is the number of seconds since the previous event of the
	// entity in event-time order, or -1 when there is none. It has no window.
	SincePrev Aggregation = "since_prev"
)

// Filter selects the events a feature looks at.
type Filter string

const (
	// All keeps every event.
	All Filter = ""
	// Failed keeps events whose status is declined or failed.
	Failed Filter = "failed"
)

// Definition declares one feature: the entity it is keyed by, what it
// aggregates, over which events and over which window (t-Window, t].
type Definition struct {
	Name   string
	Entity string // only "card_id" for now
	Agg    Aggregation
	Field  string // "amount" for Sum, "merchant_id" for Distinct
	Filter Filter
	Window time.Duration
}

// DefaultDefinitions returns the features of DESIGN.md, in API order.
func DefaultDefinitions() []Definition {
	return []Definition{
		{Name: "card_tx_count_1m", Entity: "card_id", Agg: Count, Window: time.Minute},
		{Name: "card_tx_count_5m", Entity: "card_id", Agg: Count, Window: 5 * time.Minute},
		{Name: "card_tx_count_1h", Entity: "card_id", Agg: Count, Window: time.Hour},
		{Name: "card_tx_count_24h", Entity: "card_id", Agg: Count, Window: 24 * time.Hour},
		{Name: "card_amount_sum_1h", Entity: "card_id", Agg: Sum, Field: "amount", Window: time.Hour},
		{Name: "card_amount_sum_24h", Entity: "card_id", Agg: Sum, Field: "amount", Window: 24 * time.Hour},
		{Name: "card_failed_count_10m", Entity: "card_id", Agg: Count, Filter: Failed, Window: 10 * time.Minute},
		{Name: "card_distinct_merchants_1h", Entity: "card_id", Agg: Distinct, Field: "merchant_id", Window: time.Hour},
		{Name: "card_seconds_since_prev", Entity: "card_id", Agg: SincePrev},
	}
}

// Names returns the feature names of defs in order.
func Names(defs []Definition) []string {
	out := make([]string, len(defs))
	for i, d := range defs {
		out[i] = d.Name
	}
	return out
}

func validate(defs []Definition) error {
	if len(defs) == 0 {
		return fmt.Errorf("no feature definitions")
	}
	seen := map[string]bool{}
	for i, d := range defs {
		if d.Name == "" {
			return fmt.Errorf("feature %d: empty name", i)
		}
		if seen[d.Name] {
			return fmt.Errorf("feature %s: defined twice", d.Name)
		}
		seen[d.Name] = true
		if d.Entity != "card_id" {
			return fmt.Errorf("feature %s: entity %q not supported (only card_id)", d.Name, d.Entity)
		}
		switch d.Filter {
		case All, Failed:
		default:
			return fmt.Errorf("feature %s: unknown filter %q", d.Name, d.Filter)
		}
		switch d.Agg {
		case Count:
		case Sum:
			if d.Field != "amount" {
				return fmt.Errorf("feature %s: sum needs field amount", d.Name)
			}
		case Distinct:
			if d.Field != "merchant_id" {
				return fmt.Errorf("feature %s: distinct needs field merchant_id", d.Name)
			}
		case SincePrev:
			continue
		default:
			return fmt.Errorf("feature %s: unknown aggregation %q", d.Name, d.Agg)
		}
		if d.Window <= 0 {
			return fmt.Errorf("feature %s: window must be positive", d.Name)
		}
	}
	return nil
}
