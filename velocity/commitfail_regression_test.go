package velocity_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/velocity"
)

// smallStore opens a store on a Badger whose transactions are small
// (15% of a 1 MiB memtable), so that one oversized entry fails a commit.
func smallStore(t *testing.T, opt velocity.Options) *velocity.Store {
	t.Helper()
	db, err := badger.OpenManaged(badger.DefaultOptions(t.TempDir()).WithLogger(nil).
		WithDetectConflicts(false).WithMemTableSize(1 << 20).WithValueThreshold(64 << 10))
	if err != nil {
		t.Fatal(err)
	}
	s, err := velocity.Open(db, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); db.Close() })
	return s
}

// hugeEntries are together over the 157 KiB transaction limit of smallStore.
var hugeEntries = []velocity.Entry{
	{Key: []byte("x/huge1"), Value: make([]byte, 60<<10)},
	{Key: []byte("x/huge2"), Value: make([]byte, 60<<10)},
	{Key: []byte("x/huge3"), Value: make([]byte, 60<<10)},
}

// A failed commit drops the card from the cache although another op on the
// same card is still in flight; the reload from Badger misses that op's
// event, and the cached state undercounts from then on.
func TestCommitFailureKeepsInFlightEventsOfTheSameCard(t *testing.T) {
	s := smallStore(t, velocity.Options{})
	ctx := context.Background()
	card := "card-A"
	a := ev{id: "a", at: 0, amount: 1}.tx(card)
	b := ev{id: "b", at: time.Second, amount: 1}.tx(card)
	c := ev{id: "c", at: 2 * time.Second, amount: 1}.tx(card)
	d := ev{id: "d", at: 3 * time.Second, amount: 1}.tx(card)

	opA, err := s.Begin(ctx, &a)
	if err != nil {
		t.Fatal(err)
	}
	opB, err := s.Begin(ctx, &b)
	if err != nil {
		t.Fatal(err)
	}
	if err := opA.Commit(ctx, []byte("r"), hugeEntries...); err == nil {
		t.Fatal("expected the oversized commit to fail")
	}
	// B is still in flight (not committed). C arrives now.
	opC, err := s.Begin(ctx, &c)
	if err != nil {
		t.Fatal(err)
	}
	if got := feature(t, opC.Features, "card_tx_count_1h"); got != 2 {
		t.Errorf("C: card_tx_count_1h = %v, want 2 (B and C; A failed)", got)
	}
	if err := opB.Commit(ctx, []byte("r")); err != nil {
		t.Fatal(err)
	}
	if err := opC.Commit(ctx, []byte("r")); err != nil {
		t.Fatal(err)
	}
	opD := score(t, s, d)
	if got := feature(t, opD.Features, "card_tx_count_1h"); got != 3 {
		t.Errorf("D: card_tx_count_1h = %v, want 3 (B, C, D): B's committed event is lost from memory", got)
	}
}

// When a group holds one request too big for a Badger transaction, write()
// falls back to one transaction per request and, at the first failure,
// reports that error to every request of the group: innocent requests fail,
// and those committed before the oversized one are reported as failed
// although they are in Badger. Their ids never reach the seen filter, so a
// retry skips the Badger check and is counted a second time.
func TestOversizedRequestFailsAloneAndDedupHolds(t *testing.T) {
	s := smallStore(t, velocity.Options{})
	ctx := context.Background()
	var innocentFailed, committedButFailed, doubleCounted atomic.Int64
	for round := 0; round < 50 && committedButFailed.Load() == 0; round++ {
		var wg sync.WaitGroup
		for i := 0; i < 64; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				card := fmt.Sprintf("card-%d-%d", round, i)
				tx := ev{id: fmt.Sprintf("tx-%d-%d", round, i), at: time.Duration(i) * time.Millisecond, amount: 1}.tx(card)
				op, err := s.Begin(ctx, &tx)
				if err != nil {
					t.Error(err)
					return
				}
				var extra []velocity.Entry
				if i == 32 {
					extra = hugeEntries
				}
				err = op.Commit(ctx, []byte("r"), extra...)
				if err == nil || i == 32 {
					return
				}
				if !errors.Is(err, badger.ErrTxnTooBig) {
					t.Errorf("unexpected error %v", err)
				}
				innocentFailed.Add(1)
				if _, found, _ := s.Lookup(tx.ID); !found {
					return
				}
				committedButFailed.Add(1)
				// The client retries, as the 503 tells it to.
				op2, err := s.Begin(ctx, &tx)
				if err != nil {
					t.Error(err)
					return
				}
				if !op2.Duplicate {
					doubleCounted.Add(1)
					op2.Abort()
				}
			}(i)
		}
		wg.Wait()
	}
	if n := innocentFailed.Load(); n > 0 {
		t.Errorf("%d normal commits failed because an oversized request shared their group", n)
	}
	if n := committedButFailed.Load(); n > 0 {
		t.Errorf("%d commits reported failure although their result is in Badger", n)
	}
	if n := doubleCounted.Load(); n > 0 {
		t.Errorf("%d retries of stored transactions were not recognised as duplicates (seen filter never told)", n)
	}
}

var _ = fraud.StatusApproved
