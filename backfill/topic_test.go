package backfill_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/backfill"
	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/kafkaconn"
)

func TestTopicInput(t *testing.T) {
	_, broker := kafkatest.Broker(t, "", 0)
	const topic = "transactions"
	kafkatest.CreateTopic(t, broker, topic, 2)
	// Ten records in each partition: tx-p<partition>-<i>, at offset i, with
	// Kafka timestamps one minute apart from t0 (and event times to match).
	for p := range 2 {
		var msgs []kafka.Message
		for i := range 10 {
			at := t0.Add(time.Duration(i) * time.Minute)
			v, err := json.Marshal(record{ID: fmt.Sprintf("tx-p%d-%d", p, i), CardID: fmt.Sprintf("card_%d", p),
				Amount: 100, Currency: "USD", EventTime: at.Format(time.RFC3339)})
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, kafka.Message{Value: v, Time: at, Partition: p})
		}
		produceTo(t, broker, topic, p, msgs)
	}
	// A value that is no transaction, at offset 10 of partition 0.
	produceTo(t, broker, topic, 0, []kafka.Message{{Value: []byte("{oops"), Time: t0.Add(time.Hour)}})

	ids := func(p int, from, to int) []string {
		var out []string
		for i := from; i <= to; i++ {
			out = append(out, fmt.Sprintf("tx-p%d-%d", p, i))
		}
		return out
	}
	cases := []struct {
		name        string
		opts        backfill.TopicOptions
		want        []string
		wantInvalid int64
	}{
		{"the whole topic", backfill.TopicOptions{}, append(ids(0, 0, 9), ids(1, 0, 9)...), 1},
		{"offsets bound every partition", backfill.TopicOptions{FromOffset: 3, UntilOffset: 6},
			append(ids(0, 3, 5), ids(1, 3, 5)...), 0},
		{"from an offset to the end", backfill.TopicOptions{FromOffset: 8}, append(ids(0, 8, 9), ids(1, 8, 9)...), 1},
		{"times bound the records, both included", backfill.TopicOptions{FromTime: t0.Add(2 * time.Minute), ToTime: t0.Add(4 * time.Minute)},
			append(ids(0, 2, 4), ids(1, 2, 4)...), 0},
		{"a time between records", backfill.TopicOptions{FromTime: t0.Add(7*time.Minute + time.Second)},
			append(ids(0, 8, 9), ids(1, 8, 9)...), 1},
		{"times after the last record", backfill.TopicOptions{FromTime: t0.Add(2 * time.Hour)}, nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			o := c.opts
			o.Cluster, o.Topic = kafkaconn.Plain(broker), topic
			src, err := backfill.OpenTopic(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			table, st := backfillSource(t, features.Default(), src)
			var got []string
			for i := range table.Len() {
				got = append(got, table.Tx(i).ID)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(c.want))
			if !slices.Equal(got, want) {
				t.Errorf("read %v, want %v", got, want)
			}
			if st.Invalid != c.wantInvalid {
				t.Errorf("%d invalid, want %d", st.Invalid, c.wantInvalid)
			}
		})
	}
	t.Run("a missing topic is an error, not a new topic", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := backfill.OpenTopic(ctx, backfill.TopicOptions{Cluster: kafkaconn.Plain(broker), Topic: "nope"}); err == nil {
			t.Error("err = nil, want unknown topic")
		}
	})
}

// produceTo writes msgs to one partition of topic, in order.
func produceTo(t *testing.T, broker, topic string, partition int, msgs []kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(broker), Topic: topic, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond,
		Balancer: kafka.BalancerFunc(func(kafka.Message, ...int) int { return partition })}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}
