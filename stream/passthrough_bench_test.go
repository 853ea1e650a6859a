package stream

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/kafkaconn"
)

// BenchmarkPassthrough is the plumbing of BenchmarkConsumer without the
// work: the same records (as many, as keyed, as large) on the same two
// partitions of a kfake broker, read by a consumer-group Reader configured
// as Consumer.Run configures it (256 in flight per partition, offsets
// committed every 20 ms as in the tests' consumer), handed to one worker
// per partition, produced to another topic and committed once produced.
// There is no decoding, scoring or Badger.
//
// Each worker takes what its partition has queued (up to 256 records),
// writes it with one WriteMessages call (acks from all replicas, 1 ms
// linger, batches of up to 256, key-hashed, as the alert relay writes) and
// then commits each record's offset, as the Consumer does, after the
// broker has acknowledged it. Writing one record per call instead would
// wait out the linger once per record, which no passthrough worth
// comparing with would do. It produces one output message per record,
// while the Kafka path stores one result per record and queues an alert
// in the outbox for only about three records in five (and the relay,
// which would publish those, does not run in BenchmarkConsumer).
func BenchmarkPassthrough(b *testing.B) {
	f := setup(b)
	kafkatest.CreateTopic(b, f.broker, "passthrough", 2)
	produceBenchRecords(b, f.broker, b.N)
	w := &kafka.Writer{Addr: kafka.TCP(f.broker), Topic: "passthrough", Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 256, WriteTimeout: 10 * time.Second}
	defer w.Close()
	p := &passthrough{brokers: []string{f.broker}, topic: "transactions", group: "passthrough-bench", w: w,
		maxInFlight: 256, commitInterval: 20 * time.Millisecond, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ResetTimer()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- p.run(ctx) }()
	deadline := time.Now().Add(5 * time.Minute)
	for p.processed.Load() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("passthrough processed %d of %d records in 5 minutes", p.processed.Load(), b.N)
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(p.produced.Load()), "produced")
}

// produceBenchRecords writes n records to the transactions topic as
// BenchmarkConsumer does: 10,000 cards, one millisecond apart in event time.
func produceBenchRecords(b *testing.B, broker string, n int) {
	b.Helper()
	now := time.Now().Add(-time.Hour)
	const chunk = 5000
	for i := 0; i < n; i += chunk {
		var msgs []kafka.Message
		for j := i; j < min(n, i+chunk); j++ {
			card := fmt.Sprint("card_", j%10000)
			msgs = append(msgs, kafka.Message{Key: []byte(card), Value: []byte(fmt.Sprintf(
				`{"transaction_id":"b-%d","card_id":%q,"amount":%d,"currency":"USD","merchant_id":"m%d","event_time":%q}`,
				j, card, 1000+j%90000, j%300, now.Add(time.Duration(j)*time.Millisecond).Format(time.RFC3339Nano)))})
		}
		kafkatest.Produce(b, broker, "transactions", msgs...)
	}
}

// passthrough consumes a topic and produces every record to w, with the
// Consumer's reader, per-partition workers and commit discipline.
type passthrough struct {
	brokers        []string
	topic, group   string
	w              *kafka.Writer
	maxInFlight    int
	commitInterval time.Duration
	log            *slog.Logger

	processed, produced atomic.Int64
}

func (p *passthrough) run(ctx context.Context) error {
	// The same reader as the Consumer's, so that only the work differs.
	c := New(Config{Kafka: kafkaconn.Plain(p.brokers...), Topic: p.topic, GroupID: p.group, MaxInFlight: p.maxInFlight,
		CommitInterval: p.commitInterval, Logger: p.log})
	r := kafka.NewReader(c.readerConfig())
	wctx, stopWorkers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	workers := map[int]chan kafka.Message{}
	var failed atomic.Value
	defer func() {
		for _, ch := range workers {
			close(ch)
		}
		wg.Wait()
		stopWorkers()
		r.Close()
	}()
	for {
		m, err := r.FetchMessage(wctx)
		if err != nil {
			if wctx.Err() != nil {
				if e, ok := failed.Load().(error); ok {
					return e
				}
				return nil
			}
			select {
			case <-wctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		ch, ok := workers[m.Partition]
		if !ok {
			ch = make(chan kafka.Message, p.maxInFlight)
			workers[m.Partition] = ch
			wg.Go(func() {
				if err := p.work(wctx, r, ch); err != nil {
					failed.Store(err)
					stopWorkers()
				}
			})
		}
		select {
		case ch <- m:
		case <-wctx.Done():
		}
	}
}

// work produces one partition's records in order, committing each once the
// broker has it.
func (p *passthrough) work(ctx context.Context, r *kafka.Reader, ch <-chan kafka.Message) error {
	batch := make([]kafka.Message, 0, p.maxInFlight)
	out := make([]kafka.Message, 0, p.maxInFlight)
	for m := range ch {
		batch = append(batch[:0], m)
	drain:
		for len(batch) < p.maxInFlight {
			select {
			case m, ok := <-ch:
				if !ok {
					break drain
				}
				batch = append(batch, m)
			default:
				break drain
			}
		}
		if ctx.Err() != nil {
			continue // drain without producing: redelivered after restart
		}
		out = out[:0]
		for _, m := range batch {
			out = append(out, kafka.Message{Key: m.Key, Value: m.Value, Headers: m.Headers})
		}
		if err := p.w.WriteMessages(ctx, out...); err != nil {
			if ctx.Err() != nil {
				continue
			}
			return fmt.Errorf("passthrough produce: %w", err)
		}
		p.produced.Add(int64(len(out)))
		for _, m := range batch {
			if err := r.CommitMessages(context.WithoutCancel(ctx), m); err != nil {
				p.log.Warn("offset commit failed", "partition", m.Partition, "offset", m.Offset, "err", err)
			}
			p.processed.Add(1)
		}
	}
	return nil
}
