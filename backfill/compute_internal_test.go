package backfill

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/fraud"
)

func TestComputeSplitAcrossCoresGivesTheSameTable(t *testing.T) {
	set, err := features.Parse([]byte(`
features:
  - {name: card_count_1h, entity: card_id, agg: count, window: {type: sliding, size: 1h}}
  - {name: card_since_prev, entity: card_id, agg: seconds_since_prev}
  - {name: pair_sum_10m, entity: card_id+merchant_id, agg: sum, field: amount, window: {type: sliding, size: 10m}}
  - {name: device_cards_1h, entity: device_id, agg: distinct_count, field: card_id, window: {type: sliding, size: 1h}}
  - {name: amount_ratio, stateless: ratio, of: [pair_sum_10m, card_count_1h]}
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	l := NewLog()
	for i := range 3000 {
		tx := fraud.Transaction{
			ID: fmt.Sprintf("t%d", i), CardID: fmt.Sprintf("c%d", rng.IntN(40)), Amount: rng.Int64N(1000),
			Currency: "USD", MerchantID: fmt.Sprintf("m%d", rng.IntN(5)),
			EventTime: time.Unix(1_700_000_000+rng.Int64N(20_000), 0).UTC(),
		}
		if rng.IntN(3) > 0 {
			tx.DeviceID = fmt.Sprintf("d%d", rng.IntN(10))
		}
		l.Append(&tx)
	}
	one, err := compute(context.Background(), set, l, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, shards := range []int{2, 3, 7} {
		t.Run(fmt.Sprintf("%d shards", shards), func(t *testing.T) {
			got, err := compute(context.Background(), set, l, shards)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Values, one.Values) {
				t.Error("the values differ from one core's")
			}
		})
	}
}

func TestComputeStopsWithItsContext(t *testing.T) {
	l := NewLog()
	tx := fraud.Transaction{ID: "a", CardID: "c", Currency: "USD", EventTime: time.Unix(0, 0).UTC()}
	l.Append(&tx)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := compute(ctx, features.Default(), l, 2); err == nil {
		t.Error("err = nil, want the context's")
	}
}
