package stream

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/internal/kafkatest"
)

// BenchmarkConsumer measures the Kafka path: fetch, decode, score, store
// (with the alert in the outbox when one is raised) and commit, over two
// partitions of a kfake broker on loopback. Records are produced before the
// timer starts.
func BenchmarkConsumer(b *testing.B) {
	f := setup(b)
	now := time.Now().Add(-time.Hour)
	const chunk = 5000
	for i := 0; i < b.N; i += chunk {
		var msgs []kafka.Message
		for j := i; j < min(b.N, i+chunk); j++ {
			card := fmt.Sprint("card_", j%10000)
			msgs = append(msgs, kafka.Message{Key: []byte(card), Value: []byte(fmt.Sprintf(
				`{"transaction_id":"b-%d","card_id":%q,"amount":%d,"currency":"USD","merchant_id":"m%d","event_time":%q}`,
				j, card, 1000+j%90000, j%300, now.Add(time.Duration(j)*time.Millisecond).Format(time.RFC3339Nano)))})
		}
		kafkatest.Produce(b, f.broker, "transactions", msgs...)
	}
	c := f.consumer(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ResetTimer()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for c.Stats().Processed < int64(b.N) {
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(f.outbox.Depth()), "alerts")
}
