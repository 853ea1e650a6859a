package deadletter

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// Writer sends dead-letter records to the DLQ topic. Send is synchronous
// and waits for all in-sync replicas, so a caller may commit the source
// offset as soon as Send returned nil. A Writer is safe for concurrent use.
type Writer struct {
	// Now stamps dlq.failed_at [time.Now]. Set it before the first Send.
	Now func() time.Time

	w *kafka.Writer

	mu     sync.Mutex
	counts map[Class]int64
}

// NewWriter returns a Writer to topic on the given brokers. It connects on
// the first Send; the topic must exist (it is not auto-created).
func NewWriter(brokers []string, topic string) *Writer {
	return &Writer{
		Now: time.Now,
		w: &kafka.Writer{
			Addr:         kafka.TCP(brokers...),
			Topic:        topic,
			Balancer:     &kafka.Hash{}, // by the original key: one card's dead letters stay in order
			RequiredAcks: kafka.RequireAll,
			// Each Send is one record waited for: linger briefly, not the
			// default second.
			BatchTimeout: time.Millisecond,
		},
		counts: map[Class]int64{},
	}
}

// Send writes the dead-letter record for src (see Record) and returns once
// the DLQ has it. After an error the record may or may not be in the DLQ
// (an acknowledgement can be lost): the caller retries, a duplicate dead
// letter being harmless, or stops without committing src.
func (w *Writer) Send(ctx context.Context, src kafka.Message, f Failure) error {
	m := Record(src, f, w.Now())
	if err := w.w.WriteMessages(ctx, m); err != nil {
		return fmt.Errorf("dead-letter %s/%d/%d to %s: %w", src.Topic, src.Partition, src.Offset, w.w.Topic, err)
	}
	class := f.Class
	if class == "" {
		class = Processing
	}
	w.mu.Lock()
	w.counts[class]++
	w.mu.Unlock()
	return nil
}

// Counts returns how many records this Writer has dead-lettered, per class.
func (w *Writer) Counts() map[Class]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.counts)
}

// Close flushes and closes the connections. Send must not be called after.
func (w *Writer) Close() error { return w.w.Close() }
