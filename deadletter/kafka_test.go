package deadletter_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/kafkaconn"
)

// broker starts a one-node kfake cluster on a loopback port with the given
// topics (name: partitions) and stops it at the end of the test.
func broker(t *testing.T, topics map[string]int32) string {
	t.Helper()
	var opts []kfake.Opt
	for name, n := range topics {
		opts = append(opts, kfake.SeedTopics(n, name))
	}
	_, addr := kafkatest.BrokerWith(t, opts...)
	return addr
}

// readAll returns every record of topic, partition by partition, up to
// the end as it is now. It reads with kafka.Reader, not the Conn fetches
// of kafkaconn.Cluster.Read that Replay uses, so the two do not share
// their mistakes.
func readAll(t *testing.T, ctx context.Context, addr, topic string) []kafka.Message {
	t.Helper()
	c := kafkaconn.Plain(addr)
	defer c.Close()
	parts, err := c.Partitions(ctx, topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	var out []kafka.Message
	for _, p := range parts {
		first, last, err := c.Offsets(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if first >= last {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: p.ID,
			MaxWait: 100 * time.Millisecond})
		if err := r.SetOffset(first); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read %s/%d: %v", topic, p.ID, err)
			}
			out = append(out, m)
			if m.Offset >= last-1 {
				break
			}
		}
		r.Close()
	}
	return out
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
