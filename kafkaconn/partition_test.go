package kafkaconn_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/kafkaconn"
)

// PartitionOf is where kafka-go's Hash balancer, the Writer's, puts a key.
func TestPartitionOfIsTheWritersBalancer(t *testing.T) {
	for _, n := range []int{1, 3, 4, 12, 100} {
		parts := make([]int, n)
		for i := range parts {
			parts[i] = i
		}
		for i := range 2000 {
			key := fmt.Sprintf("card_%d_%x", i, i*7919)
			if i%10 == 0 {
				key = fmt.Sprint("ünïcödé-", i) // bytes, not runes, are hashed
			}
			want := (&kafka.Hash{}).Balance(kafka.Message{Key: []byte(key)}, parts...)
			if got := kafkaconn.PartitionOf(key, n); got != want {
				t.Fatalf("PartitionOf(%q, %d) = %d, the Hash balancer says %d", key, n, got, want)
			}
		}
	}
}

// And the records a Writer produces land there on a real broker.
func TestPartitionOfOnABroker(t *testing.T) {
	_, addr := kafkatest.BrokerWith(t)
	kafkatest.CreateTopic(t, addr, "transactions", 4)
	var msgs []kafka.Message
	for i := range 40 {
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprint("card-", i)), Value: []byte("{}")})
	}
	kafkatest.Produce(t, addr, "transactions", msgs...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := kafkatest.ReadAll(ctx, addr, "transactions")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 40 {
		t.Fatalf("read %d records, want 40", len(got))
	}
	for _, m := range got {
		if want := kafkaconn.PartitionOf(string(m.Key), 4); m.Partition != want {
			t.Errorf("key %s is in partition %d, PartitionOf says %d", m.Key, m.Partition, want)
		}
	}
}
