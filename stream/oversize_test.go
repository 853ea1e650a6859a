package stream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/deadletter"
	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/kafkaconn"
)

// committed returns the group's committed offset of each partition of
// topic that has one.
func committed(t testing.TB, broker, group, topic string, partitions ...int) map[int]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(broker)}
	res, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: partitions}})
	if err == nil {
		err = res.Error
	}
	if errors.Is(err, kafka.GroupIdNotFound) { // nothing committed yet
		return map[int]int64{}
	}
	if err != nil {
		t.Fatalf("offsets of group %s: %v", group, err)
	}
	out := map[int]int64{}
	for _, p := range res.Topics[topic] {
		if p.Error == nil && p.CommittedOffset >= 0 {
			out[p.Partition] = p.CommittedOffset
		}
	}
	return out
}

// only returns the one entry of m.
func only(m map[int]int64) (k int, v int64) {
	for k, v = range m {
	}
	return k, v
}

// TestARecordNearTheSizeLimitIsDeadLetteredAndThePartitionMovesOn: a
// record the broker accepted, a few hundred bytes under its default limit,
// is read, dead-lettered as a truncated copy (the copy with its dlq.*
// headers would not fit), and the records after it in its partition are
// processed and committed.
func TestARecordNearTheSizeLimitIsDeadLetteredAndThePartitionMovesOn(t *testing.T) {
	for _, dlq := range []struct {
		name    string
		configs []kafka.ConfigEntry
		value   int // bytes of the value the dead letter keeps
	}{
		{"DLQ at the broker's default limit", nil, deadletter.DefaultMaxValueBytes},
		{"DLQ with a small max.message.bytes", []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "32768"}}, 0},
	} {
		t.Run(dlq.name, func(t *testing.T) {
			f := setup(t)
			kafkatest.CreateTopic(t, f.broker, "transactions.dlq2", 1, dlq.configs...)
			w := deadletter.NewWriter(kafkaconn.Plain(f.broker), "transactions.dlq2")
			defer w.Close()
			w.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))

			// Not JSON, and as large as the broker takes with this key.
			big := bytes.Repeat([]byte("not json "), 1048400/9)
			now := time.Now().Add(-time.Minute)
			msgs := []kafka.Message{{Key: []byte("card_big"), Value: big}}
			for i := range 3 {
				msgs = append(msgs, kafka.Message{Key: []byte("card_big"), Value: fmt.Appendf(nil,
					`{"transaction_id":"big-%d","card_id":"card_big","amount":100,"currency":"USD","event_time":%q}`,
					i, now.Add(time.Duration(i)*time.Second).Format(time.RFC3339))})
			}
			// Apart: kafka-go would batch them together, and the broker
			// refuses a batch over its limit as a whole.
			kafkatest.Produce(t, f.broker, "transactions", msgs[0])
			kafkatest.Produce(t, f.broker, "transactions", msgs[1:]...)

			c := f.consumer(nil)
			c.cfg.DLQ = w
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			deadline := time.Now().Add(30 * time.Second)
			var offsets map[int]int64
			for {
				offsets = committed(t, f.broker, "scorer-test", "transactions", 0, 1)
				if _, off := only(offsets); len(offsets) == 1 && off == 4 && c.Stats().Processed == 4 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("partition did not move past the large record: committed %v, %+v", offsets, c.Stats())
				}
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if _, ok, _ := f.store.Lookup(fmt.Sprint("big-", i)); !ok {
					t.Errorf("big-%d was not stored", i)
				}
			}
			if s := c.Stats(); s.DeadLettered != 1 {
				t.Errorf("dead-lettered %d, want 1", s.DeadLettered)
			}

			rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer rcancel()
			got, err := kafkatest.ReadAll(rctx, f.broker, "transactions.dlq2")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("%d dead letters, want 1", len(got))
			}
			d := got[0]
			sum := sha256.Sum256(big)
			for k, want := range map[string]string{
				deadletter.HeaderTruncated:      "true",
				deadletter.HeaderOriginalSize:   strconv.Itoa(len(big)),
				deadletter.HeaderOriginalSHA256: hex.EncodeToString(sum[:]),
				deadletter.HeaderClass:          string(deadletter.Decode),
				deadletter.HeaderTopic:          "transactions",
				deadletter.HeaderOffset:         "0",
			} {
				if v := kafkatest.Header(d, k); v != want {
					t.Errorf("dead letter header %s = %q, want %q", k, v, want)
				}
			}
			if p, _ := only(offsets); kafkatest.Header(d, deadletter.HeaderPartition) != strconv.Itoa(p) {
				t.Errorf("dead letter from partition %s, want %d", kafkatest.Header(d, deadletter.HeaderPartition), p)
			}
			if !bytes.Equal(d.Value, big[:dlq.value]) || string(d.Key) != "card_big" {
				t.Errorf("dead letter key %q and %d bytes of value, want card_big and the first %d of the source's", d.Key, len(d.Value), dlq.value)
			}
			if n := w.Truncated(); n != 1 {
				t.Errorf("Truncated() = %d, want 1", n)
			}
		})
	}
}
