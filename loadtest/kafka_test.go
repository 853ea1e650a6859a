package loadtest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/kafkaconn"
)

// countingSource counts the fraud-labelled events it hands out.
type countingSource struct {
	Source
	frauds int64
}

func (s *countingSource) Next() (Event, bool) {
	ev, ok := s.Source.Next()
	if ok && ev.Fraud {
		s.frauds++
	}
	return ev, ok
}

func TestKafkaMode(t *testing.T) {
	_, broker := kafkatest.Broker(t, "", 0)
	kafkatest.CreateTopic(t, broker, "transactions", 2)
	kafkatest.CreateTopic(t, broker, "fraud.alerts", 2)
	// A stale alert from before the run must not count.
	kafkatest.Produce(t, broker, "fraud.alerts", kafka.Message{Key: []byte("k"), Value: []byte("{}"),
		Headers: []kafka.Header{{Key: "transaction_id", Value: []byte("kr-1")}}})

	// A stand-in scorer: consume transactions, alert on large amounts and failed statuses.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	alerts := &kafka.Writer{Addr: kafka.TCP(broker), Topic: "fraud.alerts", Balancer: &kafka.Hash{}, BatchTimeout: time.Millisecond}
	t.Cleanup(func() { alerts.Close() })
	for p := range 2 {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: "transactions", Partition: p, MaxWait: 50 * time.Millisecond})
		wg.Go(func() {
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				var tx fraud.Transaction
				if json.Unmarshal(m.Value, &tx) != nil || !(tx.Amount >= 500000 || tx.Status.Failed()) {
					continue
				}
				alerts.WriteMessages(ctx, kafka.Message{Key: m.Key, Value: []byte(`{"decision":"decline"}`),
					Headers: []kafka.Header{{Key: "transaction_id", Value: []byte(tx.ID)}}})
			}
		})
	}

	target, err := NewKafkaTarget(context.Background(), KafkaConfig{Kafka: kafkaconn.Plain(broker), Topic: "transactions",
		AlertsTopic: "fraud.alerts", RunID: "kr", Drain: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	src := &countingSource{Source: NewGenerator(GeneratorConfig{Seed: 5, Cards: 500, FraudRate: 0.2, RunID: "kr"})}
	sched := Schedule{{time.Second, 200}}
	rep, err := Run(context.Background(), Config{Schedule: sched, MaxInFlight: 32}, src, target)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, rep, sched.Total())
	t.Logf("produce %+v\nend-to-end %+v\ndetection %+v", rep.Service, rep.EndToEnd, rep.Detection)
	if rep.Status["acked"] != rep.Sent || rep.Errors != 0 {
		t.Fatalf("status %v, errors %v: want every produce acknowledged", rep.Status, rep.ErrorSamples)
	}
	d := rep.Detection
	if rep.EndToEnd == nil || rep.EndToEnd.Count != d.TP || d.TP == 0 {
		t.Fatalf("end-to-end %+v, detection %+v: want one end-to-end latency per alerted fraud", rep.EndToEnd, d)
	}
	if sent := src.frauds; d.TP+d.FN > sent {
		t.Errorf("tp %d + fn %d > %d fraud-labelled sends", d.TP, d.FN, sent)
	}
	if got := d.FP + d.TN + d.TP + d.FN; got != rep.Sent {
		t.Errorf("detection %+v does not cover the %d sends", d, rep.Sent)
	}
	if d.FN == 0 {
		t.Errorf("detection %+v: the stand-in misses velocity and country-change fraud, want false negatives", d)
	}
	if rep.EndToEnd.P50 < rep.Service.P50/2 {
		t.Errorf("end-to-end p50 %s below produce p50 %s", fmtMs(rep.EndToEnd.P50), fmtMs(rep.Service.P50))
	}
}
