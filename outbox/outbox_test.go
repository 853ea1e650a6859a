package outbox

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/kafkaconn"
	"github.com/fraudscore/scorer/velocity"
)

func openOutbox(t testing.TB) (*Outbox, *velocity.Store) {
	t.Helper()
	db, err := badger.OpenManaged(badger.DefaultOptions(t.TempDir()).WithLogger(nil).WithDetectConflicts(false))
	if err != nil {
		t.Fatal(err)
	}
	store, err := velocity.Open(db, velocity.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := Open(db, store, 'o')
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(); db.Close() })
	return ob, store
}

// entries builds the outbox entry of a message with id, created at at.
func entries(t testing.TB, ob *Outbox, id string, at time.Time) []velocity.Entry {
	t.Helper()
	ob.now = func() time.Time { return at }
	return []velocity.Entry{ob.Entry(Message{ID: id, Key: []byte("card_o"), Value: []byte(`{}`),
		Headers: []kafka.Header{{Key: "transaction_id", Value: []byte(id)}}})}
}

func commit(t testing.TB, ob *Outbox, store *velocity.Store, e []velocity.Entry) {
	t.Helper()
	if err := store.Write(context.Background(), e, nil); err != nil {
		t.Fatal(err)
	}
	ob.Committed(e)
}

// TestAlertCommittedBehindTheCursorIsPublished: an alert created before
// one the relay has already published, but committed after it (commits
// land out of order), is published all the same, once.
func TestAlertCommittedBehindTheCursorIsPublished(t *testing.T) {
	_, broker := kafkatest.Broker(t, "", 0)
	kafkatest.CreateTopic(t, broker, "fraud.alerts", 1)
	ob, store := openOutbox(t)
	t0 := time.Now()
	early := entries(t, ob, "early", t0)
	late := entries(t, ob, "late", t0.Add(time.Second))

	relay := NewRelay(ob, RelayConfig{Kafka: kafkaconn.Plain(broker), Topic: "fraud.alerts", IDHeader: "alert_id", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { relay.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	commit(t, ob, store, late)
	kafkatest.WaitFor(t, broker, "fraud.alerts", 1, 30*time.Second)
	commit(t, ob, store, early)
	msgs := kafkatest.WaitFor(t, broker, "fraud.alerts", 2, 30*time.Second)
	got := map[string]int{}
	for _, m := range msgs {
		got[kafkatest.Header(m, "transaction_id")]++
	}
	if got["early"] != 1 || got["late"] != 1 || len(msgs) != 2 {
		t.Fatalf("published %v, want early and late once each", got)
	}
}

// An alert that the relay reads from the cursor (and publishes and deletes)
// before its scorer calls Committed is a straggler already gone: it must be
// forgotten, or BatchSize of them would starve every later real one.
func TestStragglersAlreadyPublishedAreForgotten(t *testing.T) {
	ob, store := openOutbox(t)
	ctx := context.Background()
	t0 := time.Now()
	for i := 0; i < 100; i++ {
		e := entries(t, ob, fmt.Sprint("raced-", i), t0.Add(time.Duration(i)*time.Millisecond))
		if err := store.Write(ctx, e, nil); err != nil { // in Badger, Committed not yet called
			t.Fatal(err)
		}
		recs, err := ob.next(100) // the relay reads it from the cursor
		if err != nil || len(recs) != 1 {
			t.Fatalf("next: %d, %v", len(recs), err)
		}
		if err := ob.remove(ctx, recs); err != nil {
			t.Fatal(err)
		}
		ob.finish(recs, recs)
		ob.Committed(e) // the scorer's goroutine gets round to it now
	}
	recs, _ := ob.next(100)
	ob.finish(recs, recs)
	t.Logf("stragglers kept after all were published: %d", len(ob.stragglers))
	// A real straggler: created before the cursor, committed after it.
	real := entries(t, ob, "real", t0.Add(-time.Second))
	commit(t, ob, store, real)
	for i := 0; i < 3; i++ {
		recs, err := ob.next(100)
		if err != nil {
			t.Fatal(err)
		}
		ob.finish(recs, recs)
		if len(recs) == 1 {
			return
		}
	}
	t.Fatalf("the real straggler is never read: %d stragglers queued, depth %d", len(ob.stragglers), ob.Depth())
}

// publishOnce's suspect path: B was found on the topic and removed, A's
// publish failed. The cursor must not move past A, which was read from it.
func TestAlertLeftBehindByAFailedPublishIsReadAgain(t *testing.T) {
	ob, store := openOutbox(t)
	ctx := context.Background()
	t0 := time.Now()
	a := entries(t, ob, "A", t0)
	b := entries(t, ob, "B", t0.Add(time.Millisecond))
	commit(t, ob, store, a)
	commit(t, ob, store, b)
	recs, err := ob.next(100)
	if err != nil || len(recs) != 2 {
		t.Fatalf("next: %d %v", len(recs), err)
	}
	done := recs[1:] // B was on the topic already
	if err := ob.remove(ctx, done); err != nil {
		t.Fatal(err)
	}
	// ... the publish of A fails; the deferred finish runs with done only.
	ob.finish(recs, done)
	recs, _ = ob.next(100)
	ob.finish(recs, nil)
	if len(recs) != 1 {
		t.Fatalf("after a failed publish of A, next returns %d records (depth %d): A is stranded until restart", len(recs), ob.Depth())
	}
}

// BenchmarkOutboxPoll is the relay's read of an empty outbox, and of one
// new alert, after many alerts were published and deleted. Its cost must
// not grow with their number: a read that walked the tombstones of every
// published alert took a whole core on a long-running instance.
func BenchmarkOutboxPoll(b *testing.B) {
	for _, published := range []int{1_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprint("published=", published), func(b *testing.B) {
			ob, store := openOutbox(b)
			t0 := time.Now()
			const chunk = 1000
			for i := 0; i < published; i += chunk {
				var puts []velocity.Entry
				for j := i; j < min(i+chunk, published); j++ {
					puts = append(puts, entries(b, ob, fmt.Sprint("old-", j), t0.Add(time.Duration(j)))...)
				}
				commit(b, ob, store, puts)
				recs, err := ob.next(chunk)
				if err != nil {
					b.Fatal(err)
				}
				if err := ob.remove(context.Background(), recs); err != nil {
					b.Fatal(err)
				}
				ob.finish(recs, recs)
			}
			b.ResetTimer()
			i := 0
			for b.Loop() {
				// An empty poll, then one alert through.
				recs, err := ob.next(100)
				if err != nil || len(recs) != 0 {
					b.Fatalf("empty poll: %d records, %v", len(recs), err)
				}
				ob.finish(nil, nil)
				commit(b, ob, store, entries(b, ob, fmt.Sprint("new-", i), t0.Add(time.Duration(published+i))))
				i++
				if recs, err = ob.next(100); err != nil || len(recs) != 1 {
					b.Fatalf("poll: %d records, %v", len(recs), err)
				}
				if err := ob.remove(context.Background(), recs); err != nil {
					b.Fatal(err)
				}
				ob.finish(recs, recs)
			}
		})
	}
}
