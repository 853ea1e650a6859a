package scoring_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/model"
	"github.com/fraudscore/scorer/scoring"
	"github.com/fraudscore/scorer/velocity"
)

func newPipeline(b *testing.B) (*scoring.Pipeline, func()) {
	b.Helper()
	db, err := badger.OpenManaged(badger.DefaultOptions(b.TempDir()).WithLogger(nil).WithDetectConflicts(false).
		WithMemTableSize(32 << 20).WithNumMemtables(3).WithBlockCacheSize(64 << 20))
	if err != nil {
		b.Fatal(err)
	}
	store, err := velocity.Open(db, velocity.Options{})
	if err != nil {
		b.Fatal(err)
	}
	rules, err := model.DefaultRules(append(store.Features().Names(), model.TransactionVariables()...))
	if err != nil {
		b.Fatal(err)
	}
	p := &scoring.Pipeline{Store: store, Engine: model.NewEngine(rules, model.DefaultLogistic(), model.Options{})}
	return p, func() { store.Close(); db.Close() }
}

// BenchmarkScore runs the whole pipeline (dedup, velocity, rules, model,
// durable group commit) without HTTP on a warm store of 100k cards, from
// as many goroutines as an HTTP server would have requests in flight.
func BenchmarkScore(b *testing.B) {
	const cards = 100_000
	p, done := newPipeline(b)
	defer done()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cardIDs := make([]string, cards)
	for i := range cardIDs {
		cardIDs[i] = "card_" + strconv.Itoa(i)
	}
	var seq atomic.Int64
	next := func() fraud.Transaction {
		n := seq.Add(1)
		return fraud.Transaction{
			ID: "tx-" + strconv.FormatInt(n, 10), CardID: cardIDs[(n*7919)%cards],
			Amount: 1000 + n%50000, Currency: "USD", MerchantID: "m" + strconv.FormatInt(n%500, 10),
			EventTime: base.Add(time.Duration(n) * time.Millisecond),
		}
	}
	// Warm: every card has history and is cached.
	warm := func(n int) {
		ctx := context.Background()
		errc := make(chan error, 64)
		sem := make(chan struct{}, 64)
		for range n {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				tx := next()
				if _, _, err := p.Score(ctx, &tx); err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}()
		}
		for range cap(sem) {
			sem <- struct{}{}
		}
		select {
		case err := <-errc:
			b.Fatal(err)
		default:
		}
	}
	warm(2 * cards)
	b.ReportAllocs()
	b.SetParallelism(128)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			tx := next()
			if _, _, err := p.Score(ctx, &tx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tx/s")
}
