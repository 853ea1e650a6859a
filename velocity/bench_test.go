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
	ids := benchCards(cards)
	var seq atomic.Int64
	result := []byte(`{"transaction_id":"x","score":0.1,"decision":"approve"}`)
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			tx := benchEvent(ids, seq.Add(1))
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

// benchCards are the card ids of the benchmark stream.
func benchCards(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "card_" + strconv.Itoa(i)
	}
	return ids
}

// benchEvent is event n of the benchmark stream: the velocity store and
// the Redis comparison apply exactly the same events.
func benchEvent(ids []string, n int64) fraud.Transaction {
	return fraud.Transaction{ID: "tx-" + strconv.FormatInt(n, 10), CardID: ids[(n*7919)%int64(len(ids))], Amount: n % 10000,
		MerchantID: "m", EventTime: t0.Add(time.Duration(n) * time.Millisecond)}
}
