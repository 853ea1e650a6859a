package deadletter

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/internal/kafkatest"
)

// TestTooLargeRecognisesWhatKafkaGoAndTheBrokerReturn pins the errors a
// real kafka-go Writer returns for an oversize record, from its own bound
// and from the broker's, so that a change of their shape in either shows
// here rather than as a partition that stalls again.
func TestTooLargeRecognisesWhatKafkaGoAndTheBrokerReturn(t *testing.T) {
	_, addr := kafkatest.Broker(t, "", 0)
	kafkatest.CreateTopic(t, addr, "dlq", 1)
	kafkatest.CreateTopic(t, addr, "small.dlq", 1, kafka.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: "1024"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	write := func(topic string, batchBytes int64, n int) error {
		w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, RequiredAcks: kafka.RequireAll,
			BatchTimeout: time.Millisecond, BatchBytes: batchBytes}
		defer w.Close()
		return w.WriteMessages(ctx, kafka.Message{Key: []byte("k"), Value: bytes.Repeat([]byte{'x'}, n)})
	}

	// Over the client's own bound: refused before anything is sent.
	err := write("dlq", batchBytes, 2<<20)
	var local kafka.MessageTooLargeError
	if !errors.As(err, &local) || !tooLarge(err) {
		t.Errorf("over BatchBytes: %v (%T), want a kafka.MessageTooLargeError that tooLarge recognises", err, err)
	}
	// Under it, over the broker's default message.max.bytes (1048588 for
	// the whole batch, its header included).
	err = write("dlq", batchBytes, batchBytes-40)
	var we kafka.WriteErrors
	if !errors.As(err, &we) || !tooLarge(err) {
		t.Errorf("over message.max.bytes: %v (%T), want kafka.WriteErrors that tooLarge recognises", err, err)
	}
	// Over a topic's own max.message.bytes.
	if err := write("small.dlq", batchBytes, 2048); !tooLarge(err) {
		t.Errorf("over the topic's max.message.bytes: %v (%T), want an error tooLarge recognises", err, err)
	}
	// Not about size.
	if err := write("missing.dlq", batchBytes, 10); err == nil || tooLarge(err) {
		t.Errorf("to a missing topic: %v, want an error that is not about size", err)
	}
	if tooLarge(nil) {
		t.Error("tooLarge(nil)")
	}
}
