package velocity_test

import (
	"context"
	"testing"
	"time"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/velocity"
)

// The authorisation outcome (same transaction_id, status "declined") that
// arrives while the pre-authorisation score still holds the claim waits for
// it and then returns the stored result as a plain duplicate: the new
// status is never applied, so card_failed_count_10m stays wrong for good.
func TestStatusArrivingDuringFirstCommitIsApplied(t *testing.T) {
	s := openStore(t, velocity.Options{})
	ctx := context.Background()
	pre := ev{id: "p1", amount: 5}.tx("card-s")
	op, err := s.Begin(ctx, &pre)
	if err != nil {
		t.Fatal(err)
	}
	outcome := pre
	outcome.Status = fraud.StatusDeclined
	res := make(chan *velocity.Op, 1)
	go func() {
		op2, err := s.Begin(ctx, &outcome)
		if err != nil {
			t.Error(err)
		}
		res <- op2
	}()
	for deadline := time.Now().Add(10 * time.Second); velocity.ClaimWaits(s, "p1") == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the outcome never waited on the pre-authorisation's claim")
		}
	}
	if err := op.Commit(ctx, []byte("r")); err != nil {
		t.Fatal(err)
	}
	op2 := <-res
	f, err := s.FeaturesAt(ctx, "card-s", t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got := feature(t, f, "card_failed_count_10m"); got != 1 {
		t.Errorf("card_failed_count_10m = %v after the declined outcome, want 1 (StatusUpdated=%v)", got, op2 != nil && op2.StatusUpdated)
	}
}
