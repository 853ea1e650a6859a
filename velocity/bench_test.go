package velocity_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/velocity"
)

// BenchmarkApply is the velocity update on its own: claim, update the
// card, compute the features, and the durable group commit of the event
// and its seen record.
func BenchmarkApply(b *testing.B) {
	const cards = 100_000
	s := openStore(b, velocity.Options{})
	ids := make([]string, cards)
	for i := range ids {
		ids[i] = "card_" + strconv.Itoa(i)
	}
	var seq atomic.Int64
	result := []byte(`{"transaction_id":"x","score":0.1,"decision":"approve"}`)
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			n := seq.Add(1)
			tx := fraud.Transaction{ID: "tx-" + strconv.FormatInt(n, 10), CardID: ids[(n*7919)%cards], Amount: n % 10000,
				MerchantID: "m", EventTime: t0.Add(time.Duration(n) * time.Millisecond)}
			op, err := s.Begin(ctx, &tx)
			if err != nil {
				b.Error(err)
				return
			}
			if err := op.Commit(ctx, result); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tx/s")
	st := s.Stats()
	b.ReportMetric(float64(st.Commits)/float64(max(1, st.Batches)), "tx/batch")
}
