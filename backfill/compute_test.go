package backfill_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/fraudscore/scorer/features"
)

// propertyFeatures has every aggregation, filters and two entities.
const propertyFeatures = `
features:
  - {name: card_count_1m, entity: card_id, agg: count, window: {type: sliding, size: 1m}}
  - {name: card_sum_10m, entity: card_id, agg: sum, field: amount, window: {type: sliding, size: 10m}}
  - {name: card_avg_1h, entity: card_id, agg: avg, field: amount, window: {type: sliding, size: 1h}}
  - {name: card_min_1h, entity: card_id, agg: min, field: amount, window: {type: sliding, size: 1h}}
  - {name: card_max_10m, entity: card_id, agg: max, field: amount, window: {type: sliding, size: 10m}}
  - {name: card_last_5m, entity: card_id, agg: last, field: amount, window: {type: sliding, size: 5m}}
  - {name: card_merchants_1h, entity: card_id, agg: distinct_count, field: merchant_id, window: {type: sliding, size: 1h}}
  - {name: card_failed_10m, entity: card_id, agg: count, filter: "status in (declined, failed)", window: {type: sliding, size: 10m}}
  - {name: card_ecom_max_1h, entity: card_id, agg: max, field: amount, filter: "channel == ecom", window: {type: sliding, size: 1h}}
  - {name: card_since_prev, entity: card_id, agg: seconds_since_prev}
  - {name: device_count_1h, entity: device_id, agg: count, window: {type: sliding, size: 1h}}
  - {name: device_cards_1h, entity: device_id, agg: distinct_count, field: card_id, window: {type: sliding, size: 1h}}
  - {name: device_failed_last_1h, entity: device_id, agg: last, field: amount, filter: "status == failed", window: {type: sliding, size: 1h}}
  - {name: device_since_prev, entity: device_id, agg: seconds_since_prev}
  - {name: tx_amount, stateless: amount}
  - {name: tx_hour, stateless: hour_of_day}
`

// spec is a feature of propertyFeatures in the words of its definition.
type spec struct {
	entity func(r record) string               // "": the transaction has none
	agg    string                              // count, sum, avg, min, max, last, distinct, since_prev
	window time.Duration                       // (t-window, t]
	filter func(r record) bool                 // nil: every event
	field  func(r record) string               // distinct
	value  func(r record, t time.Time) float64 // stateless
}

var specs = map[string]spec{
	"card_count_1m":         {entity: card, agg: "count", window: time.Minute},
	"card_sum_10m":          {entity: card, agg: "sum", window: 10 * time.Minute},
	"card_avg_1h":           {entity: card, agg: "avg", window: time.Hour},
	"card_min_1h":           {entity: card, agg: "min", window: time.Hour},
	"card_max_10m":          {entity: card, agg: "max", window: 10 * time.Minute},
	"card_last_5m":          {entity: card, agg: "last", window: 5 * time.Minute},
	"card_merchants_1h":     {entity: card, agg: "distinct", window: time.Hour, field: func(r record) string { return r.MerchantID }},
	"card_failed_10m":       {entity: card, agg: "count", window: 10 * time.Minute, filter: func(r record) bool { return r.Status == "declined" || r.Status == "failed" }},
	"card_ecom_max_1h":      {entity: card, agg: "max", window: time.Hour, filter: func(r record) bool { return r.Channel == "ecom" }},
	"card_since_prev":       {entity: card, agg: "since_prev"},
	"device_count_1h":       {entity: device, agg: "count", window: time.Hour},
	"device_cards_1h":       {entity: device, agg: "distinct", window: time.Hour, field: card},
	"device_failed_last_1h": {entity: device, agg: "last", window: time.Hour, filter: func(r record) bool { return r.Status == "failed" }},
	"device_since_prev":     {entity: device, agg: "since_prev"},
	"tx_amount":             {value: func(r record, _ time.Time) float64 { return float64(r.Amount) }},
	"tx_hour":               {value: func(_ record, t time.Time) float64 { return float64(t.Hour()) }},
}

func card(r record) string   { return r.CardID }
func device(r record) string { return r.DeviceID }

// bruteForce computes each feature of each distinct transaction from the
// definitions' words: the log is replayed in event-time order (records
// with equal times in the order they came, each transaction_id once, its
// first record), and a feature of transaction T at t counts the events of
// T's entity replayed up to T (T included) whose time is in (t-W, t].
// "last" is the amount of the latest of them, equal times ordered as the
// feature log orders events (by the hash of their transaction_id).
func bruteForce(t *testing.T, log []record) map[string]map[string]float64 {
	type event struct {
		record
		at time.Time
	}
	seen := map[string]bool{}
	var replay []event
	for _, r := range log {
		if !seen[r.ID] {
			seen[r.ID] = true
			replay = append(replay, event{r, r.time(t)})
		}
	}
	sort.SliceStable(replay, func(i, j int) bool { return replay[i].at.Before(replay[j].at) })
	out := map[string]map[string]float64{}
	byEntity := map[string][]event{} // "card_id=x": its events replayed so far
	for _, tx := range replay {
		for _, ent := range []string{"card=" + tx.CardID, "device=" + tx.DeviceID} {
			byEntity[ent] = append(byEntity[ent], tx)
		}
		vals := map[string]float64{}
		for name, s := range specs {
			if s.value != nil {
				vals[name] = s.value(tx.record, tx.at)
				continue
			}
			key := s.entity(tx.record)
			if key == "" {
				vals[name] = 0
				if s.agg == "since_prev" {
					vals[name] = -1
				}
				continue
			}
			// The entity's events known when T is computed: those replayed
			// before it, and T.
			prefix := "card="
			if s.entity(record{DeviceID: "d"}) == "d" {
				prefix = "device="
			}
			var evs []event
			for _, e := range byEntity[prefix+key] {
				if s.filter == nil || s.filter(e.record) {
					evs = append(evs, e)
				}
			}
			if s.agg == "since_prev" {
				prev := -1.0
				for _, e := range evs[:len(evs)-boolInt(s.filter == nil || s.filter(tx.record))] {
					if d := tx.at.Sub(e.at).Seconds(); prev < 0 || d < prev {
						prev = d
					}
				}
				vals[name] = prev
				continue
			}
			var in []record
			var times []time.Time
			for _, e := range evs {
				if e.at.After(tx.at.Add(-s.window)) && !e.at.After(tx.at) {
					in = append(in, e.record)
					times = append(times, e.at)
				}
			}
			vals[name] = aggregate(t, s, in, times)
		}
		out[tx.ID] = vals
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func aggregate(t *testing.T, s spec, in []record, times []time.Time) float64 {
	switch s.agg {
	case "count":
		return float64(len(in))
	case "sum", "avg":
		var sum float64
		for _, e := range in {
			sum += float64(e.Amount)
		}
		if s.agg == "avg" && len(in) > 0 {
			return sum / float64(len(in))
		}
		return sum
	case "min", "max":
		if len(in) == 0 {
			return 0
		}
		m := float64(in[0].Amount)
		for _, e := range in {
			if a := float64(e.Amount); (s.agg == "min" && a < m) || (s.agg == "max" && a > m) {
				m = a
			}
		}
		return m
	case "last":
		if len(in) == 0 {
			return 0
		}
		last := 0
		for i, e := range in {
			if et, lt := times[i], times[last]; et.After(lt) || (et.Equal(lt) && features.HashID(e.ID) > features.HashID(in[last].ID)) {
				last = i
			}
		}
		return float64(in[last].Amount)
	case "distinct":
		vals := map[string]bool{}
		for _, e := range in {
			if v := s.field(e); v != "" {
				vals[v] = true
			}
		}
		return float64(len(vals))
	}
	t.Fatalf("no aggregation %q", s.agg)
	return 0
}

func TestBackfillEqualsTheDefinitions(t *testing.T) {
	set := parseSet(t, propertyFeatures)
	if len(specs) != set.Len() {
		t.Fatalf("the test knows %d features, the file has %d", len(specs), set.Len())
	}
	for seed := range 12 {
		t.Run(fmt.Sprintf("random log %d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			log := randomLog(rng, 300)
			path := filepath.Join(t.TempDir(), "log.jsonl")
			writeJSONL(t, path, log)
			table, st := backfillFile(t, set, path)
			want := bruteForce(t, log)
			if table.Len() != len(want) || st.Valid() != int64(len(want)) {
				t.Fatalf("%d rows (%d valid), want %d distinct transactions", table.Len(), st.Valid(), len(want))
			}
			if st.Duplicates != int64(len(log)-len(want)) {
				t.Errorf("%d duplicates, want %d", st.Duplicates, len(log)-len(want))
			}
			var prev time.Time
			for i := range table.Len() {
				tx := table.Tx(i)
				if tx.EventTime.Before(prev) {
					t.Fatalf("row %d at %v comes after one at %v", i, tx.EventTime, prev)
				}
				prev = tx.EventTime
				for _, f := range table.Features(i) {
					if w := want[tx.ID][f.Name]; math.Abs(f.Value-w) > 1e-9*math.Max(1, math.Abs(w)) {
						t.Errorf("%s %s = %v, want %v", tx.ID, f.Name, f.Value, w)
					}
				}
			}
		})
	}
}

func TestBackfillFirstRecordOfATransactionCounts(t *testing.T) {
	set := parseSet(t, propertyFeatures)
	at := t0.Format(time.RFC3339Nano)
	later := t0.Add(time.Minute).Format(time.RFC3339Nano)
	log := []record{
		{ID: "a", CardID: "card_a", Amount: 100, Currency: "USD", EventTime: at},
		{ID: "a", CardID: "card_a", Amount: 999, Currency: "USD", EventTime: later},
		{ID: "a", CardID: "card_b", Amount: 5, Currency: "USD", EventTime: at},
	}
	path := filepath.Join(t.TempDir(), "log.jsonl")
	writeJSONL(t, path, log)
	table, st := backfillFile(t, set, path)
	if table.Len() != 1 || st.Duplicates != 2 {
		t.Fatalf("%d rows, %d duplicates; want 1 and 2", table.Len(), st.Duplicates)
	}
	if r := table.Log.Repeated(); len(r) != 1 || r[0] != "a" {
		t.Errorf("Repeated() = %q, want [a]", r)
	}
	if tx := table.Tx(0); tx.Amount != 100 || tx.CardID != "card_a" || !tx.EventTime.Equal(t0) {
		t.Errorf("row = %+v, want the first record", tx)
	}
}
