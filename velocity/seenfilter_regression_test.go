package velocity_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/velocity"
)

// A status update rewrites the seen record with a fresh TTL, so Badger
// keeps the id for a retention after the update, but the seen filter is not
// told: its generation goes at a retention after the first sighting and the
// filter answers "never seen" while Badger still has the record. A
// redelivery in that gap skips the Badger check and is counted again (and
// its result and alert are written a second time).
func TestStatusUpdateRenewsTheSeenFilter(t *testing.T) {
	// The store's clock (which ages the filter and sets the records' TTL)
	// runs ahead of the wall clock Badger expires records by, so that the
	// filter ages while Badger certainly still holds the record.
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s := openStore(t, velocity.Options{DedupRetention: 3 * time.Second, Now: clock})
	ctx := context.Background()
	x := ev{id: "x", amount: 1}.tx("card-x")
	score(t, s, x)
	advance(2 * time.Second)
	upd := x
	upd.Status = fraud.StatusDeclined
	if op := score(t, s, upd); !op.StatusUpdated {
		t.Fatal("status update not applied")
	}
	advance(1500 * time.Millisecond)
	// Any new id: its add drops the generation holding "x".
	score(t, s, ev{id: "y", amount: 1}.tx("card-y"))
	if _, found, _ := s.Lookup("x"); !found {
		t.Fatal("Badger forgot x within its retention after the update")
	}
	op, err := s.Begin(ctx, &x)
	if err != nil {
		t.Fatal(err)
	}
	if !op.Duplicate {
		op.Abort()
		t.Fatal("redelivery of x counted as new although its seen record is in Badger")
	}
}
