package alerts_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/alerts"
	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/kafkaconn"
	"github.com/fraudscore/scorer/outbox"
	"github.com/fraudscore/scorer/velocity"
)

func TestRelaySkipsAlertsAlreadyOnTheTopic(t *testing.T) {
	_, broker := kafkatest.Broker(t, "", 0)
	kafkatest.CreateTopic(t, broker, "fraud.alerts", 2)
	db, err := badger.OpenManaged(badger.DefaultOptions(t.TempDir()).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := velocity.Open(db, velocity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	box, err := outbox.Open(db, store, alerts.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	ob := alerts.New(box)
	// Three alerts in the outbox; the first already reached the topic in a
	// run that stopped before removing it from the outbox.
	ctx := alerts.WithTraceparent(context.Background(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	for i := range 3 {
		tx := fraud.Transaction{ID: fmt.Sprint("tx-", i), CardID: "card_r", Amount: 1, Currency: "USD", EventTime: time.Now()}
		res := fraud.Result{TransactionID: tx.ID, Score: 0.9, Decision: fraud.Decline, AlertID: fraud.AlertID(tx.ID)}
		entries, err := ob.Entries(ctx, &tx, &res)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Write(ctx, entries, nil); err != nil {
			t.Fatal(err)
		}
		ob.Committed(entries)
	}
	kafkatest.Produce(t, broker, "fraud.alerts", kafka.Message{Key: []byte("card_r"), Value: []byte(`{}`),
		Headers: []kafka.Header{{Key: "alert_id", Value: []byte(fraud.AlertID("tx-0"))}}})

	relay := outbox.NewRelay(box, outbox.RelayConfig{Kafka: kafkaconn.Plain(broker), Topic: "fraud.alerts", IDHeader: alerts.IDHeader,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { relay.Run(rctx); close(done) }()
	msgs := kafkatest.WaitFor(t, broker, "fraud.alerts", 3, 30*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for box.Depth() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// Stopped, the relay has returned from every publish it began: a
	// duplicate would be on the topic by now.
	cancel()
	<-done
	msgs = kafkatest.WaitFor(t, broker, "fraud.alerts", 3, time.Second)
	if len(msgs) != 3 {
		t.Fatalf("%d messages on the topic, want 3 (tx-0 once, tx-1, tx-2)", len(msgs))
	}
	st := relay.Stats()
	if st.Skipped != 1 || st.Published != 2 || st.Depth != 0 {
		t.Errorf("relay stats %+v, want 1 skipped, 2 published, empty outbox", st)
	}
	for _, m := range msgs[1:] {
		if kafkatest.Header(m, "traceparent") == "" || string(m.Key) != "card_r" {
			t.Errorf("published alert lacks key or trace context: key %q headers %v", m.Key, m.Headers)
		}
	}
}
