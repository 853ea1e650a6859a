package velocity_test

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/velocity"
)

func TestStreamTimeNeverRunsAheadOfTheClock(t *testing.T) {
	now := t0.Add(time.Hour)
	s := openStore(t, velocity.Options{Now: func() time.Time { return now }})
	// One client's clock is 290 s fast (inside a 5 m future skew).
	score(t, s, ev{id: "skewed", at: time.Hour + 290*time.Second}.tx("card_fast"))
	if st := s.Stats().StreamTime; st.After(now) {
		t.Fatalf("stream time %v is ahead of the clock %v", st, now)
	}
	// Live traffic on every other card is on time, and counted.
	for i, card := range []string{"card_a", "card_b", "card_c"} {
		op := score(t, s, ev{id: card, at: time.Hour - time.Duration(i)*time.Second}.tx(card))
		if op.Late {
			t.Errorf("%s at the server clock is late after a skewed event", card)
		}
		if got := feature(t, op.Features, "card_tx_count_1m"); got != 1 {
			t.Errorf("%s counted %v, want 1", card, got)
		}
	}
	// The skewed event itself is counted where its time puts it.
	f, err := s.FeaturesAt(context.Background(), "card_fast", t0.Add(time.Hour+290*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got := feature(t, f, "card_tx_count_1m"); got != 1 {
		t.Errorf("the skewed event counted %v, want 1", got)
	}
}

func TestStoredStreamTimeAheadOfTheClockIsReset(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	// A stream time of 2184, as a wrapped event time of 1600 left behind.
	poisoned := time.Date(2184, 7, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	txn := db.NewTransactionAt(math.MaxUint64, true)
	if err := txn.Set([]byte("m/stream_time"), binary.BigEndian.AppendUint64(nil, uint64(poisoned))); err != nil {
		t.Fatal(err)
	}
	if err := txn.CommitAt(db.MaxVersion()+1, nil); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Hour)
	s, err := velocity.Open(db, velocity.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close(); db.Close() }()
	if st := s.Stats().StreamTime; !st.Equal(now) {
		t.Fatalf("stream time after Open = %v, want the clock %v", st, now)
	}
	op := score(t, s, ev{id: "live", at: time.Hour}.tx("card_live"))
	if op.Late {
		t.Error("live traffic is late after the reset")
	}
}

func TestEventTimesOutsideInt64NanosDoNotWrap(t *testing.T) {
	now := t0
	s := openStore(t, velocity.Options{Now: func() time.Time { return now }})
	score(t, s, ev{id: "live-1", at: 0}.tx("card_a"))
	for _, at := range []time.Time{
		time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1677, 9, 21, 0, 12, 43, 0, time.UTC),
		time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		tx := fraud.Transaction{ID: "odd-" + at.Format("2006"), CardID: "card_odd", Amount: 1, Currency: "USD", EventTime: at}
		op, err := s.Begin(context.Background(), &tx)
		if err != nil {
			t.Fatal(err)
		}
		op.Commit(context.Background(), []byte(`{}`))
		if st := s.Stats().StreamTime; !st.Equal(t0) {
			t.Fatalf("after an event at %v, stream time = %v, want %v", at, st, t0)
		}
	}
	op := score(t, s, ev{id: "live-2", at: time.Second}.tx("card_a"))
	if op.Late || feature(t, op.Features, "card_tx_count_1m") != 2 {
		t.Errorf("live traffic after odd times: late=%v features=%v, want on time with 2 counted", op.Late, op.Features)
	}
}

func TestReusedTransactionIDIsAConflict(t *testing.T) {
	s := openStore(t, velocity.Options{})
	first := fraud.Transaction{ID: "pay-1", CardID: "card_c", Amount: 1000, Currency: "USD", EventTime: t0, MerchantID: "m1", Channel: "pos"}
	score(t, s, first)
	for _, tt := range []struct {
		name string
		edit func(*fraud.Transaction)
		want []string
	}{
		{"another amount", func(tx *fraud.Transaction) { tx.Amount = 99999 }, []string{"amount"}},
		{"another card and merchant", func(tx *fraud.Transaction) { tx.CardID, tx.MerchantID = "card_z", "m2" }, []string{"card_id", "merchant_id"}},
		{"another time and currency", func(tx *fraud.Transaction) { tx.EventTime, tx.Currency = t0.Add(time.Second), "EUR" }, []string{"currency", "event_time"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tx := first
			tt.edit(&tx)
			_, err := s.Begin(context.Background(), &tx)
			var ce *velocity.ConflictError
			if !errors.As(err, &ce) || !errors.Is(err, velocity.ErrConflict) {
				t.Fatalf("Begin = %v, want a *ConflictError", err)
			}
			if got := ce.Fields; len(got) != len(tt.want) || got[0] != tt.want[0] || got[len(got)-1] != tt.want[len(tt.want)-1] {
				t.Errorf("conflicting fields %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("the same body is a duplicate, a new status an update", func(t *testing.T) {
		if op := score(t, s, first); !op.Duplicate {
			t.Error("an identical retry was not a duplicate")
		}
		tx := first
		tx.Status = fraud.StatusDeclined
		if op := score(t, s, tx); !op.Duplicate || !op.StatusUpdated {
			t.Errorf("a new status: duplicate=%v updated=%v, want both", op.Duplicate, op.StatusUpdated)
		}
	})
	f, _ := s.FeaturesAt(context.Background(), "card_c", t0)
	if got := feature(t, f, "card_tx_count_1m"); got != 1 {
		t.Errorf("card counted %v times, want 1", got)
	}
}

func TestWriteGateRefusalIsErrNotWritableAndUndone(t *testing.T) {
	var refuse atomic.Bool
	gateErr := errors.New("disk nearly full")
	s := openStore(t, velocity.Options{WriteGate: func(int) error {
		if refuse.Load() {
			return gateErr
		}
		return nil
	}})
	score(t, s, ev{id: "a", at: 0}.tx("card_g"))
	refuse.Store(true)
	tx := ev{id: "b", at: time.Second}.tx("card_g")
	op, err := s.Begin(context.Background(), &tx)
	if err != nil {
		t.Fatal(err)
	}
	err = op.Commit(context.Background(), []byte(`{}`))
	if !errors.Is(err, velocity.ErrNotWritable) || !errors.Is(err, gateErr) {
		t.Fatalf("Commit with the gate closed = %v, want ErrNotWritable wrapping the gate's error", err)
	}
	refuse.Store(false)
	op = score(t, s, ev{id: "c", at: 2 * time.Second}.tx("card_g"))
	if got := feature(t, op.Features, "card_tx_count_1m"); got != 2 {
		t.Errorf("count after a refused commit = %v, want 2 (a and c; b undone)", got)
	}
}
