package scoring_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/model"
	"github.com/fraudscore/scorer/scoring"
	"github.com/fraudscore/scorer/velocity"
)

type panickyOutbox struct{}

func (panickyOutbox) Entries(context.Context, *fraud.Transaction, *fraud.Result) ([]velocity.Entry, error) {
	panic("boom")
}
func (panickyOutbox) Committed([]velocity.Entry) {}

// ScoreStream has no deferred Abort between Begin and Commit: a panic there
// (model, outbox, encoder) is turned into a 500 by the HTTP recoverer, but
// the transaction_id's claim and the card's pending count are never
// released. Every retry of that transaction_id then waits out its whole
// budget and gets a 503, until the process restarts, and the card can
// never be evicted.
func TestPanicAfterBeginReleasesTheClaim(t *testing.T) {
	db, err := badger.OpenManaged(badger.DefaultOptions(t.TempDir()).WithLogger(nil).WithDetectConflicts(false))
	if err != nil {
		t.Fatal(err)
	}
	store, err := velocity.Open(db, velocity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(); db.Close() })
	rules, err := model.DefaultRules(append(store.Features().Names(), model.TransactionVariables()...))
	if err != nil {
		t.Fatal(err)
	}
	p := &scoring.Pipeline{Store: store, Engine: model.NewEngine(rules, model.DefaultLogistic(), model.Options{}), Outbox: panickyOutbox{}}
	// A large amount so that the decision alerts and the outbox is asked.
	tx := fraud.Transaction{ID: "tx-1", CardID: "card-1", Amount: 900_000_000_00, Currency: "USD", EventTime: time.Now().UTC()}
	func() {
		defer func() { recover() }()
		p.Score(context.Background(), &tx)
	}()
	p.Outbox = nil
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, _, err = p.Score(ctx, &tx)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the retry after a panic is stuck on the leaked claim: %v", err)
	}
}
