package stream

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/internal/kafkatest"
)

// TestRecordsWaitAtAClosedGateAndAreProcessedOnceWhenItOpens: while the
// gate is closed nothing is processed or committed; once it opens every
// record is processed exactly once.
func TestRecordsWaitAtAClosedGateAndAreProcessedOnceWhenItOpens(t *testing.T) {
	f := setup(t)
	now := time.Now().Add(-time.Minute)
	const cards, each = 4, 5
	var msgs []kafka.Message
	for i := range cards * each {
		card := fmt.Sprint("card_g", i%cards)
		msgs = append(msgs, kafka.Message{Key: []byte(card), Value: fmt.Appendf(nil,
			`{"transaction_id":"g-%d","card_id":%q,"amount":100,"currency":"USD","event_time":%q}`,
			i, card, now.Add(time.Duration(i)*time.Second).Format(time.RFC3339))})
	}
	kafkatest.Produce(t, f.broker, "transactions", msgs...)

	open := make(chan struct{})
	waiting := make(chan struct{}, 1)
	var skew atomic.Int64
	c := f.consumer(nil)
	c.cfg.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	c.cfg.Gate = func(ctx context.Context) error {
		select {
		case <-open:
			return nil
		default:
		}
		select {
		case waiting <- struct{}{}:
		default:
		}
		select {
		case <-open:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	select {
	case <-waiting:
	case <-ctx.Done():
		t.Fatal("no record reached the gate")
	}
	if s := c.Stats(); s.Processed != 0 {
		t.Errorf("%d records processed behind a closed gate, want 0", s.Processed)
	}
	for i := range cards * each {
		if _, ok, _ := f.store.Lookup(fmt.Sprint("g-", i)); ok {
			t.Errorf("g-%d stored behind a closed gate", i)
		}
	}
	if off := committed(t, f.broker, "scorer-test", "transactions", 0, 1); len(off) != 0 {
		t.Errorf("offsets %v committed behind a closed gate, want none", off)
	}
	// A pause is a stall like any other: the lag is real.
	skew.Store(int64(time.Hour))
	if s := c.Stalls(); len(s) == 0 || s[0].Offset != 0 {
		t.Errorf("Stalls() = %+v an hour behind a closed gate, want a partition stalled at offset 0", s)
	}
	skew.Store(0)

	close(open)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var sum int64
		for _, o := range committed(t, f.broker, "scorer-test", "transactions", 0, 1) {
			sum += o
		}
		if sum == cards*each && c.Stats().Processed == cards*each {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the gate opened: %+v, committed up to %d of %d", c.Stats(), sum, cards*each)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Duplicates != 0 || s.DeadLettered != 0 {
		t.Errorf("%+v, want no duplicates and no dead letters", s)
	}
	for i := range cards {
		feats, _ := f.store.FeaturesAt(context.Background(), fmt.Sprint("card_g", i), now.Add(cards*each*time.Second))
		if n, _ := feats.Get("card_tx_count_5m"); n != each {
			t.Errorf("card_g%d counted %v, want %d", i, n, each)
		}
	}
}

// TestAGateErrorStopsTheConsumerWithoutCommitting: a gate that fails for
// another reason than its context is not taken as open.
func TestAGateErrorStopsTheConsumerWithoutCommitting(t *testing.T) {
	f := setup(t)
	kafkatest.Produce(t, f.broker, "transactions", kafka.Message{Key: []byte("card_e"), Value: fmt.Appendf(nil,
		`{"transaction_id":"e-0","card_id":"card_e","amount":100,"currency":"USD","event_time":%q}`, time.Now().Format(time.RFC3339))})
	errGate := errors.New("free space unknown")
	c := f.consumer(nil)
	c.cfg.Gate = func(context.Context) error { return errGate }
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.Run(ctx); !errors.Is(err, errGate) {
		t.Fatalf("Run ended with %v, want the gate's error", err)
	}
	if _, ok, _ := f.store.Lookup("e-0"); ok {
		t.Error("e-0 was processed past a failing gate")
	}
	if off := committed(t, f.broker, "scorer-test", "transactions", 0, 1); len(off) != 0 {
		t.Errorf("offsets %v committed past a failing gate, want none", off)
	}
}
