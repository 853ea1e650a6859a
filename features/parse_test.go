package features_test

import (
	"strings"
	"testing"
	"time"

	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/fraud"
)

func TestDefaultStartsWithTheNineFeaturesOfDESIGN(t *testing.T) {
	s := features.Default()
	want := []string{"card_tx_count_1m", "card_tx_count_5m", "card_tx_count_1h", "card_tx_count_24h",
		"card_amount_sum_1h", "card_amount_sum_24h", "card_failed_count_10m", "card_distinct_merchants_1h",
		"card_seconds_since_prev"}
	if got := s.Names(); len(got) < 9 || strings.Join(got[:9], ",") != strings.Join(want, ",") {
		t.Fatalf("names %v, want %v first", got, want)
	}
	if len(s.Entities()) != 1 || s.Entities()[0].Name != "card_id" {
		t.Errorf("entities %v, want card_id alone", s.Entities())
	}
	if s.Retention() != 7*24*time.Hour {
		t.Errorf("retention %v, want 7 days (the longest window)", s.Retention())
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	for _, tt := range []struct {
		name, give, want string
	}{
		{"unknown agg", "features:\n  - name: x\n    entity: card_id\n    agg: cnt\n    window: {type: sliding, size: 1m}\n", "f.yaml:2: feature x: unknown agg \"cnt\""},
		{"unknown key", "features:\n  - name: x\n    entity: card_id\n    agg: count\n    windw: {type: sliding, size: 1m}\n", "f.yaml:5: unknown key \"windw\""},
		{"defined twice", "features:\n  - name: x\n    stateless: amount\n  - name: x\n    stateless: hour_of_day\n", "f.yaml:4: feature x: defined twice (first at line 2)"},
		{"bad entity", "features:\n  - name: x\n    entity: card_id+iban\n    agg: count\n    window: {type: sliding, size: 1m}\n", "f.yaml:2: feature x: entity \"card_id+iban\""},
		{"sum without field", "features:\n  - name: x\n    entity: card_id\n    agg: sum\n    window: {type: sliding, size: 1m}\n", "f.yaml:2: feature x: sum needs field: amount"},
		{"no window", "features:\n  - name: x\n    entity: card_id\n    agg: count\n", "f.yaml:2: feature x: window is required"},
		{"bad size", "features:\n  - name: x\n    entity: card_id\n    agg: count\n    window: {type: sliding, size: soon}\n", "f.yaml:2: feature x: sliding window needs a positive size"},
		{"bad filter field", "features:\n  - name: x\n    entity: card_id\n    agg: count\n    filter: \"colour in (red)\"\n    window: {type: sliding, size: 1m}\n", "f.yaml:2: feature x: filter:"},
		{"ratio of a missing feature", "features:\n  - name: x\n    stateless: ratio\n    of: [a, b]\n", "f.yaml:2: feature x: of: no feature \"a\""},
		{"bad name", "features:\n  - name: X-1\n    stateless: amount\n", "f.yaml:2: feature name \"X-1\""},
		{"categories without values", "features:\n  - name: c\n    stateless: merchant_category\n", "f.yaml:2: feature c: merchant_category needs values"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := features.Parse([]byte(tt.give), "f.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseTheContractExample(t *testing.T) {
	s, err := features.Parse([]byte(`features:
  - name: card_tx_count_1h
    entity: card_id
    agg: count
    window: {type: sliding, size: 1h}
  - name: card_failed_count_10m
    entity: card_id
    agg: count
    filter: "status in (declined, failed)"
    window: {type: sliding, size: 10m}
  - name: card_amount_sum_5m_tumbling
    entity: card_id
    agg: sum
    field: amount
    window: {type: tumbling, size: 5m}
  - name: card_session_tx_count
    entity: card_id
    agg: count
    window: {type: session, gap: 30m}
  - name: card_merchant_count_30d
    entity: card_id+merchant_id
    agg: count
    window: {type: sliding, size: 30d}
  - name: tx_hour_of_day
    stateless: hour_of_day
`), "contract.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 6 || len(s.Entities()) != 2 || s.Retention() != 30*24*time.Hour {
		t.Errorf("%d features, entities %v, retention %v", s.Len(), s.Entities(), s.Retention())
	}
}

// TestTimeOfDayFiltersMatchAndAmountRatios covers the filters on the hour
// and day of event_time, the match feature and a ratio of the amount.
func TestTimeOfDayFiltersMatchAndAmountRatios(t *testing.T) {
	s, err := features.Parse([]byte(`features:
  - name: card_night_tx_count_24h
    entity: card_id
    agg: count
    filter: "hour in (22, 23, 0, 1, 2, 3)"
    window: {type: sliding, size: 24h}
  - name: card_amount_avg_7d
    entity: card_id
    agg: avg
    field: amount
    window: {type: sliding, size: 7d}
  - name: tx_at_night
    stateless: match
    filter: "hour in (22, 23, 0, 1, 2, 3)"
  - name: tx_weekend_large
    stateless: match
    filter: "day_of_week in (0, 6) and amount >= 10000"
  - name: amount_vs_card_avg_7d
    stateless: ratio
    of: [amount, card_amount_avg_7d]
`), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	card := func(id string, at time.Time, amount int64) *fraud.Transaction {
		return &fraud.Transaction{ID: id, CardID: "tok_c", Amount: amount, EventTime: at}
	}
	// A Saturday: 21:30 (day), 23:10 and 01:20 Sunday (night).
	sat := time.Date(2026, 11, 28, 21, 30, 0, 0, time.UTC)
	txs := []*fraud.Transaction{card("a", sat, 1000), card("b", sat.Add(100*time.Minute), 3000), card("c", sat.Add(230*time.Minute), 20000)}
	log := &features.Log{}
	var at []int
	for _, tx := range txs {
		at = append(at, log.Insert(s.Event(0, tx, s.Mask(tx), tx.EventTime.UnixNano())))
	}
	got := s.Features(txs[2], []*features.Log{log}, []int{at[2]})
	want := map[string]float64{
		"card_night_tx_count_24h": 2,              // b and c
		"card_amount_avg_7d":      8000,           // (1000+3000+20000)/3
		"tx_at_night":             1,              // 01:20
		"tx_weekend_large":        1,              // Sunday, 200.00
		"amount_vs_card_avg_7d":   20000.0 / 8000, // the amount over the card's average
	}
	for _, f := range got {
		if f.Value != want[f.Name] {
			t.Errorf("%s = %v, want %v", f.Name, f.Value, want[f.Name])
		}
	}
	day := s.Features(txs[0], []*features.Log{log}, []int{at[0]})
	if v, _ := day.Get("tx_at_night"); v != 0 {
		t.Errorf("tx_at_night at 21:30 = %v", v)
	}

	for _, bad := range []struct{ give, want string }{
		{"features:\n  - name: x\n    stateless: match\n", "match needs a filter"},
		{"features:\n  - name: x\n    stateless: amount\n    filter: \"hour == 1\"\n", "only match takes a filter"},
		{"features:\n  - name: x\n    stateless: match\n    filter: \"hour in (night)\"\n", "hour in takes a list of integers"},
	} {
		if _, err := features.Parse([]byte(bad.give), "f.yaml"); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", bad.give, err, bad.want)
		}
	}
}
