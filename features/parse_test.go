package features_test

import (
	"strings"
	"testing"
	"time"

	"github.com/fraudscore/scorer/features"
)

func TestDefaultIsTheNineFeaturesOfDESIGN(t *testing.T) {
	s := features.Default()
	want := []string{"card_tx_count_1m", "card_tx_count_5m", "card_tx_count_1h", "card_tx_count_24h",
		"card_amount_sum_1h", "card_amount_sum_24h", "card_failed_count_10m", "card_distinct_merchants_1h",
		"card_seconds_since_prev"}
	if got := s.Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("names %v, want %v", got, want)
	}
	if len(s.Entities()) != 1 || s.Entities()[0].Name != "card_id" {
		t.Errorf("entities %v, want card_id alone", s.Entities())
	}
	if s.Retention() != 24*time.Hour {
		t.Errorf("retention %v, want 24h", s.Retention())
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
