// Package kafkatest has helpers for tests that talk to a real Kafka
// protocol peer (the in-process kfake broker) with the real kafka-go client.
package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/fraudscore/scorer/kafkaconn"
)

// Broker starts a one-node kfake cluster on a loopback port, persisted to
// dir when dir is not empty, and stops it at the end of the test.
func Broker(t testing.TB, dir string, port int) (*kfake.Cluster, string) {
	t.Helper()
	opts := []kfake.Opt{kfake.Ports(port)}
	if dir != "" {
		opts = append(opts, kfake.DataDir(dir))
	}
	return BrokerWith(t, opts...)
}

// BrokerWith starts a one-node kfake cluster (kfake listens on 127.0.0.1)
// with four partitions a topic and opts (kfake.TLS, kfake.EnableSASL, ...),
// and stops it at the end of the test.
func BrokerWith(t testing.TB, opts ...kfake.Opt) (*kfake.Cluster, string) {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(4)}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()[0]
}

// Produce writes msgs to topic and waits for the acknowledgement.
func Produce(t testing.TB, broker, topic string, msgs ...kafka.Message) {
	t.Helper()
	w := kafkaconn.Plain(broker).Writer(topic)
	w.RequiredAcks = kafka.RequireAll
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// ReadAll returns every message of every partition of topic, from the
// beginning to the end as it is now.
func ReadAll(ctx context.Context, broker, topic string) ([]kafka.Message, error) {
	c := kafkaconn.Plain(broker)
	defer c.Close()
	parts, err := c.Partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	var out []kafka.Message
	for _, p := range parts {
		first, end, err := c.Offsets(ctx, p)
		if err != nil {
			return nil, err
		}
		err = c.Read(ctx, p, first, end, func(msgs []kafka.Message) error {
			out = append(out, msgs...)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// WaitFor reads topic until it holds at least n messages or wait passes,
// then returns what it holds. It fails the test on timeout.
func WaitFor(t testing.TB, broker, topic string, n int, wait time.Duration) []kafka.Message {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		msgs, err := ReadAll(ctx, broker, topic)
		cancel()
		if err == nil && len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d messages after %s, want %d (last error: %v)", topic, len(msgs), wait, n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Header returns the value of a message header, "" when absent.
func Header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// CreateTopic creates topic, unless it exists, with the given partitions
// and topic configs (such as max.message.bytes).
func CreateTopic(t testing.TB, broker, topic string, partitions int, configs ...kafka.ConfigEntry) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := kafkaconn.Plain(broker).EnsureTopics(ctx,
		kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1, ConfigEntries: configs})
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}
