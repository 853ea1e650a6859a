package model

import (
	"context"
	"testing"

	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/fraud"
)

// TestDefaultModelServesTheDefaultFeatures: the embedded model reads only
// features of the embedded definitions and loads with the embedded rules,
// as serve assembles them.
func TestDefaultModelServesTheDefaultFeatures(t *testing.T) {
	names := features.Default().Names()
	eng, err := LoadEngine(Files{}, names)
	if err != nil {
		t.Fatalf("the embedded model, rules and features do not load together: %v", err)
	}
	if eng.Version() != Default().Version() || Default().Version() == "" {
		t.Errorf("engine version %q, default model %q", eng.Version(), Default().Version())
	}
	if Default() != Default() {
		t.Error("Default parses the embedded file on every call")
	}
}

// TestReasonsExplainAlertsOnly: across a grid of transactions scored by
// the embedded trees, an approval carries no reason, and some alert
// carries the model's own reasons (not only a rule's).
func TestReasonsExplainAlertsOnly(t *testing.T) {
	eng, err := LoadEngine(Files{}, features.Default().Names())
	if err != nil {
		t.Fatal(err)
	}
	ruleCodes := map[string]bool{}
	for _, r := range eng.rules.rules {
		ruleCodes[r.code] = true
	}
	modelReasons, alerts, approvals := 0, 0, 0
	for _, amount := range []float64{800, 6000, 40000, 110000} {
		for _, night := range []float64{0, 1} {
			for cat := range 15 {
				for _, n24 := range []float64{1, 4, 9} {
					f := fraud.Features{}
					for _, name := range features.Default().Names() {
						f = append(f, fraud.Feature{Name: name})
					}
					set := func(name string, v float64) {
						for i := range f {
							if f[i].Name == name {
								f[i].Value = v
							}
						}
					}
					set("tx_amount", amount)
					set("card_tx_count_24h", n24)
					set("card_tx_count_7d", 3*n24)
					set("card_amount_sum_24h", n24*amount)
					set("card_amount_avg_7d", 5000)
					set("card_amount_max_7d", max(amount, 5000))
					set("amount_vs_card_avg_7d", amount/5000)
					set("card_spend_24h_vs_avg_7d", n24*amount/5000)
					set("card_night_tx_count_24h", night*n24)
					set("card_night_amount_sum_24h", night*n24*amount)
					set("card_night_share_24h", night)
					set("tx_at_night", night)
					set("tx_hour_of_day", 12+11*night)
					set("merchant_category_code", float64(cat))
					in := input(int64(amount), vel{})
					in.Features = f
					out := eng.Score(context.Background(), in)
					if out.Decision == fraud.Approve {
						approvals++
						if len(out.Reasons) != 0 {
							t.Fatalf("approval at score %v with reasons %v", out.Score, codes(out.Reasons))
						}
						continue
					}
					alerts++
					for _, r := range out.Reasons {
						if !ruleCodes[r.Code] {
							modelReasons++
							break
						}
					}
				}
			}
		}
	}
	t.Logf("%d approvals, %d alerts, %d with the model's reasons", approvals, alerts, modelReasons)
	if approvals == 0 || alerts == 0 || modelReasons == 0 {
		t.Errorf("%d approvals, %d alerts, %d with the model's reasons: want some of each", approvals, alerts, modelReasons)
	}
}
