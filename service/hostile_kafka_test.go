package service_test

import (
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/service"
)

// TestKafkaConflictIsDeadLetteredAndThePartitionMovesOn: a record that
// reuses a transaction_id scored by HTTP with another amount is not a
// duplicate: it goes to the DLQ with class conflict, nothing is counted,
// and the records after it are processed.
func TestKafkaConflictIsDeadLetteredAndThePartitionMovesOn(t *testing.T) {
	r := startService(t, t.TempDir(), "embedded")
	now := time.Now().Add(-time.Minute)
	r.post(t, txJSON("pay-1", "card_c", 1000, now, ""))
	key := []byte("card_c")
	kafkatest.Produce(t, r.broker, "transactions",
		kafka.Message{Key: key, Value: txJSON("pay-1", "card_c", 999999, now, "")},
		kafka.Message{Key: key, Value: txJSON("pay-2", "card_c", 1000, now.Add(time.Second), "")})
	r.waitProcessed(t, "pay-2")
	dlq := kafkatest.WaitFor(t, r.broker, "transactions.dlq", 1, 30*time.Second)
	if len(dlq) != 1 || kafkatest.Header(dlq[0], "dlq.error.class") != "conflict" ||
		!strings.Contains(kafkatest.Header(dlq[0], "dlq.error.message"), "amount") {
		t.Fatalf("DLQ %v, want one conflict record naming amount", dlq)
	}
	res, _ := r.post(t, txJSON("pay-3", "card_c", 1000, now.Add(2*time.Second), ""))
	if n, _ := res.Features.Get("card_tx_count_1m"); n != 3 {
		t.Errorf("card_tx_count_1m = %v after pay-1, pay-2 and pay-3, want 3 (the conflict not counted)", n)
	}
}

// TestStalledPartitionShowsInReadiness: while a dead letter cannot be
// written (the DLQ topic is gone), its partition waits, /readyz says which
// and where, and it recovers by itself once the DLQ is back.
func TestStalledPartitionShowsInReadiness(t *testing.T) {
	r := startConfig(t, service.Config{DataDir: t.TempDir(), KafkaBrokers: "embedded", KafkaStallAfter: 500 * time.Millisecond})
	conn, err := kafka.Dial("tcp", r.broker)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.DeleteTopics("transactions.dlq"); err != nil {
		t.Fatal(err)
	}
	key := []byte("card_s")
	kafkatest.Produce(t, r.broker, "transactions",
		kafka.Message{Key: key, Value: []byte("poison")},
		kafka.Message{Key: key, Value: txJSON("after-poison", "card_s", 100, time.Now(), "")})

	deadline := time.Now().Add(30 * time.Second)
	for {
		st, rd := ready(t, r.Addr())
		if st == 503 && strings.Contains(rd.Checks["kafka"], "stalled at offset 0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %+v, want 503 naming the stalled partition", st, rd)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, ok, _ := r.Store().Lookup("after-poison"); ok {
		t.Fatal("a record after the stalled one was processed: order is lost")
	}
	kafkatest.CreateTopic(t, r.broker, "transactions.dlq", 4)
	r.waitProcessed(t, "after-poison")
	for {
		if st, _ := ready(t, r.Addr()); st == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not recover after the DLQ came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKafkaHostileRecordsAreDeadLetteredWithoutCardNumbers: records that
// would poison stream time, or carry a card number, go to the DLQ as
// validation failures, with every card number masked; the partition moves
// on and stream time stays put.
func TestKafkaHostileRecordsAreDeadLetteredWithoutCardNumbers(t *testing.T) {
	r := startService(t, t.TempDir(), "embedded")
	now := time.Now().Add(-time.Minute)
	r.post(t, txJSON("before", "card_h", 100, now, ""))
	stream := r.Store().Stats().StreamTime
	key := []byte("card_h")
	pan := "4111 1111 1111 1111"
	kafkatest.Produce(t, r.broker, "transactions",
		kafka.Message{Key: key, Value: txJSON("old-1", "card_h", 100, time.Date(1650, 6, 1, 0, 0, 0, 0, time.UTC), "")},
		kafka.Message{Key: []byte(pan), Value: txJSON("pan-1", pan, 100, now, ""),
			Headers: []kafka.Header{{Key: "x-card", Value: []byte("pan:" + pan)}}},
		kafka.Message{Key: key, Value: txJSON("after", "card_h", 100, now.Add(time.Second), "")})
	r.waitProcessed(t, "after")
	dlq := kafkatest.WaitFor(t, r.broker, "transactions.dlq", 2, 30*time.Second)
	if len(dlq) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dlq))
	}
	for _, m := range dlq {
		if c := kafkatest.Header(m, "dlq.error.class"); c != "validation" {
			t.Errorf("class %q, want validation", c)
		}
		all := string(m.Key) + string(m.Value)
		for _, h := range m.Headers {
			all += h.Key + string(h.Value)
		}
		if strings.Contains(strings.ReplaceAll(all, " ", ""), "4111111111111111") {
			t.Errorf("a dead letter holds the card number: key %q value %s headers %v", m.Key, m.Value, m.Headers)
		}
	}
	var masked int
	for _, m := range dlq {
		if kafkatest.Header(m, "dlq.pan_masked") == "true" {
			masked++
		}
	}
	if masked != 1 {
		t.Errorf("%d dead letters say dlq.pan_masked, want 1", masked)
	}
	if st := r.Store().Stats().StreamTime; !st.Equal(stream) && st.Before(stream) {
		t.Errorf("stream time moved back to %v from %v", st, stream)
	}
	if st := r.Store().Stats().StreamTime; st.After(time.Now()) {
		t.Errorf("stream time %v is ahead of the clock", st)
	}
}
