package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/alerts"
	"github.com/fraudscore/scorer/deadletter"
	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/kafkaconn"
	"github.com/fraudscore/scorer/model"
	"github.com/fraudscore/scorer/outbox"
	"github.com/fraudscore/scorer/scoring"
	"github.com/fraudscore/scorer/velocity"
)

type fixture struct {
	broker string
	store  *velocity.Store
	outbox *outbox.Outbox
	pipe   *scoring.Pipeline
	dlq    *deadletter.Writer
}

func setup(t testing.TB) *fixture {
	t.Helper()
	_, broker := kafkatest.Broker(t, "", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := kafkaconn.Plain(broker).EnsureTopics(ctx,
		kafka.TopicConfig{Topic: "transactions", NumPartitions: 2, ReplicationFactor: 1},
		kafka.TopicConfig{Topic: "transactions.dlq", NumPartitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	db, err := badger.OpenManaged(badger.DefaultOptions(t.TempDir()).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	store, err := velocity.Open(db, velocity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := outbox.Open(db, store, alerts.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	rules, _ := model.DefaultRules(append(store.Features().Names(), model.TransactionVariables()...))
	pipe := &scoring.Pipeline{Store: store, Engine: model.NewEngine(rules, model.DefaultLogistic(), model.Options{}), Outbox: alerts.New(ob)}
	dlq := deadletter.NewWriter(kafkaconn.Plain(broker), "transactions.dlq")
	t.Cleanup(func() {
		dlq.Close()
		store.Close()
		db.Close()
	})
	return &fixture{broker: broker, store: store, outbox: ob, pipe: pipe, dlq: dlq}
}

func (f *fixture) consumer(hook func(kafka.Message) error) *Consumer {
	return New(Config{
		Kafka: kafkaconn.Plain(f.broker), Topic: "transactions", GroupID: "scorer-test", Pipeline: f.pipe, DLQ: f.dlq,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), CommitInterval: 20 * time.Millisecond, beforeCommit: hook,
	})
}

var errCrash = errors.New("simulated crash")

func TestRedeliveryAfterACrashBeforeCommitCountsOnce(t *testing.T) {
	f := setup(t)
	now := time.Now().Add(-time.Minute)
	var msgs []kafka.Message
	for i := range 6 { // the 5th and 6th alert (CARD_VELOCITY_1M)
		msgs = append(msgs, kafka.Message{Key: []byte("card_c"), Value: []byte(fmt.Sprintf(
			`{"transaction_id":"c-%d","card_id":"card_c","amount":100,"currency":"USD","event_time":%q}`,
			i, now.Add(time.Duration(i)*time.Second).Format(time.RFC3339)))})
	}
	kafkatest.Produce(t, f.broker, "transactions", msgs...)

	// First run: crash after processing the 5th record, before its commit.
	var seen atomic.Int32
	c1 := f.consumer(func(m kafka.Message) error {
		if seen.Add(1) == 5 {
			return errCrash
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c1.Run(ctx); !errors.Is(err, errCrash) {
		t.Fatalf("first run ended with %v, want the simulated crash", err)
	}
	if _, ok, _ := f.store.Lookup("c-4"); !ok {
		t.Fatal("c-4 was not stored before the crash")
	}

	// Second run: c-4 (at least) is delivered again.
	rctx, stop := context.WithCancel(ctx)
	c2 := f.consumer(nil)
	done := make(chan error, 1)
	go func() { done <- c2.Run(rctx) }()
	deadline := time.Now().Add(45 * time.Second)
	for {
		if _, ok, _ := f.store.Lookup("c-5"); ok && c2.Stats().Processed >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("second run did not finish: %+v", c2.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c2.Stats().Duplicates < 1 {
		t.Errorf("nothing was redelivered: %+v", c2.Stats())
	}
	feats, _ := f.store.FeaturesAt(context.Background(), "card_c", now.Add(10*time.Second))
	if n, _ := feats.Get("card_tx_count_1m"); n != 6 {
		t.Errorf("card_tx_count_1m = %v after redelivery, want 6", n)
	}
	if d := f.outbox.Depth(); d != 2 {
		t.Errorf("outbox holds %d alerts, want 2 (one each for c-4 and c-5)", d)
	}
}

// TestFullPartitionQueueSlowsFetching: while processing is held, the
// consumer takes no more of a partition than MaxInFlight to work on, plus
// what waits in the reader's queue and the hand-off (MaxInFlight each);
// the rest stays in the topic. The records spread over eight cards, so
// every lane has work: a bound per lane would let all 40 in.
func TestFullPartitionQueueSlowsFetching(t *testing.T) {
	f := setup(t)
	now := time.Now()
	var msgs []kafka.Message
	for i := range 40 {
		card := fmt.Sprint("card_q", i%8)
		msgs = append(msgs, kafka.Message{Key: []byte(card), Value: []byte(fmt.Sprintf(
			`{"transaction_id":"q-%d","card_id":%q,"amount":100,"currency":"USD","event_time":%q}`, i, card, now.Format(time.RFC3339)))})
	}
	kafkatest.Produce(t, f.broker, "transactions", msgs...)
	release := make(chan struct{})
	var mu sync.Mutex
	var offs []int64
	c := f.consumer(func(m kafka.Message) error {
		mu.Lock()
		offs = append(offs, m.Offset)
		mu.Unlock()
		<-release
		return nil
	})
	const maxInFlight = 4
	c.cfg.MaxInFlight = maxInFlight
	c.cfg.StallAfter = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	// Until the partition shows as stalled (records waiting, nothing
	// done for StallAfter), fetching has had every chance to run ahead.
	for deadline := time.Now().Add(30 * time.Second); c.Stats().Stalled == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the held partition never showed as stalled")
		}
	}
	mu.Lock()
	taken := slices.Clone(offs)
	mu.Unlock()
	// A rebalance as the group forms may redeliver what the first
	// generation took (its held records stay held): count offsets once,
	// and allow the fetches of two generations.
	slices.Sort(taken)
	if distinct := slices.Compact(taken); len(distinct) > maxInFlight {
		t.Errorf("records %v in processing at once, want at most MaxInFlight (%d)", distinct, maxInFlight)
	}
	// Taken to work on, waiting in the hand-off, waiting in the reader's
	// queue, and the one in the fetch loop's hand.
	if n, bound := c.Stats().Fetched, int64(2*(3*maxInFlight+1)); n > bound {
		t.Errorf("%d of 40 records fetched while processing is held, want at most %d", n, bound)
	}
	close(release)
	deadline := time.Now().Add(30 * time.Second)
	for c.Stats().Processed < 40 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	if p := c.Stats().Processed; p != 40 {
		t.Errorf("processed %d, want 40", p)
	}
}

func TestLanesCommitOnlyWhatIsProcessedAcrossACrash(t *testing.T) {
	f := setup(t)
	now := time.Now().Add(-time.Minute)
	var msgs []kafka.Message
	for i := range 48 {
		card := fmt.Sprint("card_l", i%8)
		msgs = append(msgs, kafka.Message{Key: []byte(card), Value: []byte(fmt.Sprintf(
			`{"transaction_id":"l-%d","card_id":%q,"amount":100,"currency":"USD","event_time":%q}`,
			i, card, now.Add(time.Duration(i)*time.Second).Format(time.RFC3339)))})
	}
	kafkatest.Produce(t, f.broker, "transactions", msgs...)

	// Crash on the 20th record to finish, while other lanes are mid-way.
	var seen atomic.Int32
	c1 := f.consumer(func(m kafka.Message) error {
		if seen.Add(1) == 20 {
			return errCrash
		}
		time.Sleep(time.Millisecond)
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c1.Run(ctx); !errors.Is(err, errCrash) {
		t.Fatalf("first run ended with %v, want the simulated crash", err)
	}
	rctx, stop := context.WithCancel(ctx)
	c2 := f.consumer(nil)
	done := make(chan error, 1)
	go func() { done <- c2.Run(rctx) }()
	deadline := time.Now().Add(45 * time.Second)
	for {
		all := true
		for i := range 48 {
			if _, ok, _ := f.store.Lookup(fmt.Sprint("l-", i)); !ok {
				all = false
				break
			}
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not every record was processed after the restart: an offset was committed past an unprocessed record")
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		feats, _ := f.store.FeaturesAt(context.Background(), fmt.Sprint("card_l", i), now.Add(50*time.Second))
		if n, _ := feats.Get("card_tx_count_5m"); n != 6 {
			t.Errorf("card_l%d counted %v, want 6", i, n)
		}
	}
}
