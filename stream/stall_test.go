package stream

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/deadletter"
	"github.com/fraudscore/scorer/internal/kafkatest"
)

// unreachableDLQ is a dead-letter topic that cannot be written, for
// reasons other than size, until it is opened.
type unreachableDLQ struct {
	open  atomic.Bool
	tried chan kafka.Message // each attempt, while there is room
}

func (d *unreachableDLQ) Send(ctx context.Context, src kafka.Message, f deadletter.Failure) error {
	select {
	case d.tried <- src:
	default:
	}
	if !d.open.Load() {
		return errors.New("dlq: connection refused")
	}
	return nil
}

// TestAPartitionWaitingOnTheDLQShowsAsStalled: a poison record whose dead
// letter cannot be written holds its partition; once StallAfter has passed
// Stalls reports the partition at that record with the records behind it,
// and the report clears when the DLQ is back and the partition moves on.
func TestAPartitionWaitingOnTheDLQShowsAsStalled(t *testing.T) {
	f := setup(t)
	now := time.Now().Add(-time.Minute)
	msgs := []kafka.Message{{Key: []byte("card_s"), Value: []byte("not json")}}
	for i := range 3 {
		msgs = append(msgs, kafka.Message{Key: []byte("card_s"), Value: fmt.Appendf(nil,
			`{"transaction_id":"s-%d","card_id":"card_s","amount":100,"currency":"USD","event_time":%q}`,
			i, now.Add(time.Duration(i)*time.Second).Format(time.RFC3339))})
	}
	kafkatest.Produce(t, f.broker, "transactions", msgs...)

	// The consumer's clock runs with the real one, and jumps when told.
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	dlq := &unreachableDLQ{tried: make(chan kafka.Message, 1)}
	c := f.consumer(nil)
	c.cfg.DLQ, c.cfg.Now, c.cfg.StallAfter = dlq, clock, time.Minute
	start := clock()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	var poison kafka.Message
	select {
	case poison = <-dlq.tried:
	case <-ctx.Done():
		t.Fatal("the poison record was never dead-lettered")
	}
	// Waiting, for less than StallAfter.
	if s := c.Stalls(); len(s) != 0 {
		t.Fatalf("Stalls() = %+v before StallAfter, want none", s)
	}

	skew.Store(int64(2 * time.Minute))
	s := c.Stalls()
	if len(s) != 1 || s[0].Partition != poison.Partition || s[0].Offset != poison.Offset || s[0].Lag != 4 {
		t.Fatalf("Stalls() = %+v, want partition %d stalled at offset %d with lag 4", s, poison.Partition, poison.Offset)
	}
	if s[0].Since.Before(start) || clock().Sub(s[0].Since) < time.Minute {
		t.Errorf("stalled since %v, want between the start (%v) and a minute ago by the consumer's clock (%v)", s[0].Since, start, clock())
	}
	if n := c.Stats().Stalled; n != 1 {
		t.Errorf("Stats().Stalled = %d, want 1", n)
	}
	if l := c.PartitionLag()[poison.Partition]; l != 4 {
		t.Errorf("PartitionLag()[%d] = %d, want 4", poison.Partition, l)
	}

	dlq.open.Store(true)
	deadline := time.Now().Add(30 * time.Second)
	for len(c.Stalls()) > 0 || c.Stats().Processed < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("still stalled after the DLQ came back: %+v, %+v", c.Stalls(), c.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if l := c.PartitionLag()[poison.Partition]; l != 0 {
		t.Errorf("PartitionLag()[%d] = %d once all is done, want 0", poison.Partition, l)
	}
	if n := c.Stats().Stalled; n != 0 {
		t.Errorf("Stats().Stalled = %d once all is done, want 0", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := c.Stalls(); len(s) != 0 {
		t.Errorf("Stalls() = %+v after Run returned, want none", s)
	}
}

// TestAnIdlePartitionIsNotStalled: a record arriving after a long quiet
// spell is not reported as waiting since the last one was done.
func TestAnIdlePartitionIsNotStalled(t *testing.T) {
	f := setup(t)
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	hold := make(chan struct{})
	held := make(chan kafka.Message, 1)
	c := f.consumer(func(m kafka.Message) error {
		if string(m.Key) == "card_i" && m.Offset == 1 {
			held <- m
			<-hold
		}
		return nil
	})
	c.cfg.Now, c.cfg.StallAfter = clock, time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	tx := func(i int) kafka.Message {
		return kafka.Message{Key: []byte("card_i"), Value: fmt.Appendf(nil,
			`{"transaction_id":"i-%d","card_id":"card_i","amount":100,"currency":"USD","event_time":%q}`,
			i, time.Now().Format(time.RFC3339))}
	}
	kafkatest.Produce(t, f.broker, "transactions", tx(0))
	deadline := time.Now().Add(30 * time.Second)
	for c.Stats().Processed < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the first record was not processed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	skew.Store(int64(time.Hour)) // an hour of nothing
	kafkatest.Produce(t, f.broker, "transactions", tx(1))
	select {
	case <-held: // the second record is in hand, not done
	case <-ctx.Done():
		t.Fatal("the second record never arrived")
	}
	if s := c.Stalls(); len(s) != 0 {
		t.Errorf("Stalls() = %+v for a record just taken after an idle hour, want none", s)
	}
	skew.Store(int64(time.Hour + 2*time.Minute))
	if s := c.Stalls(); len(s) != 1 || s[0].Offset != 1 || s[0].Lag != 1 {
		t.Errorf("Stalls() = %+v two minutes later, want offset 1 with lag 1", s)
	}
	close(hold)
}

// TestStalledPartitionLagKeepsGrowing: while a partition is stalled its
// fetches stop, yet the records produced behind the stalled one count in
// its lag: the ends are read from the broker on their own.
func TestStalledPartitionLagKeepsGrowing(t *testing.T) {
	f := setup(t)
	now := time.Now().Add(-time.Minute)
	kafkatest.Produce(t, f.broker, "transactions", kafka.Message{Key: []byte("card_s"), Value: []byte("not json"), Partition: 0})
	dlq := &unreachableDLQ{tried: make(chan kafka.Message, 1)}
	c := f.consumer(nil)
	c.cfg.DLQ, c.cfg.StallAfter = dlq, time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		dlq.open.Store(true)
		cancel()
		<-done
	}()
	var poison kafka.Message
	select {
	case poison = <-dlq.tried:
	case <-ctx.Done():
		t.Fatal("the poison record never reached the DLQ")
	}
	const more = 3000
	var msgs []kafka.Message
	for i := range more {
		msgs = append(msgs, kafka.Message{Key: []byte("card_s"), Value: fmt.Appendf(nil,
			`{"transaction_id":"s-%d","card_id":"card_s","amount":100,"currency":"USD","event_time":%q}`,
			i, now.Format(time.RFC3339))})
	}
	kafkatest.Produce(t, f.broker, "transactions", msgs...)
	for {
		var lag int64
		for _, st := range c.Stalls() {
			if st.Partition == poison.Partition {
				lag = st.Lag
			}
		}
		if lag >= more && c.PartitionLag()[poison.Partition] >= more {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("stalled partition's lag %d, PartitionLag %v; %d records wait behind it", lag, c.PartitionLag(), more+1)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
