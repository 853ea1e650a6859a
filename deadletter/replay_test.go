package deadletter_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/deadletter"
	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/kafkaconn"
)

const dlq = "transactions.dlq"

// deadLetter puts one record per failure in the DLQ, through a Writer, and
// returns the source records; the i-th lands at DLQ offset i.
func deadLetter(t *testing.T, addr string, classes ...deadletter.Class) []kafka.Message {
	t.Helper()
	ctx := testContext(t)
	w := deadletter.NewWriter(kafkaconn.Plain(addr), dlq)
	defer w.Close()
	var srcs []kafka.Message
	for i, c := range classes {
		src := kafka.Message{
			Topic: "transactions", Partition: i % 4, Offset: int64(100 + i),
			Key:     []byte("card_" + string(rune('a'+i))),
			Value:   []byte("value " + string(rune('a'+i))),
			Headers: []kafka.Header{h("origin", "pos-"+string(rune('a'+i))), {Key: "raw", Value: []byte{byte(i), 0xff}}},
		}
		if err := w.Send(ctx, src, deadletter.Failure{Class: c, Err: errors.New("failed"), Attempts: 1}); err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, src)
	}
	return srcs
}

func TestReplayRedrivesTheSelectedRecords(t *testing.T) {
	ctx := testContext(t)
	addr := broker(t, map[string]int32{"transactions": 4, dlq: 1})
	srcs := deadLetter(t, addr, deadletter.Decode, deadletter.Decode, deadletter.Validation, deadletter.Processing, deadletter.Decode)

	var out bytes.Buffer
	st, err := deadletter.Replay(ctx, deadletter.ReplayOptions{
		Kafka: kafkaconn.Plain(addr), Topic: dlq, Partition: -1,
		Classes: []deadletter.Class{deadletter.Decode, deadletter.Processing},
		From:    1, To: 3, // leaves out the decode failures at 0 and 4
		Out: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := (deadletter.ReplayStats{Scanned: 3, Replayed: 2, Skipped: 1}); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	wantOut := "partition=0 offset=1 class=decode source=transactions/1/101 action=replayed\n" +
		"partition=0 offset=2 class=validation source=transactions/2/102 action=skipped-class\n" +
		"partition=0 offset=3 class=processing source=transactions/3/103 action=replayed\n"
	if out.String() != wantOut {
		t.Errorf("report:\n%s\nwant:\n%s", out.String(), wantOut)
	}

	got := readAll(t, ctx, addr, "transactions")
	if len(got) != 2 {
		t.Fatalf("%d records on the source topic, want 2", len(got))
	}
	byKey := map[string]kafka.Message{}
	for _, m := range got {
		byKey[string(m.Key)] = m
	}
	for _, tc := range []struct {
		src  kafka.Message
		from string
	}{{srcs[1], "transactions.dlq/0/1"}, {srcs[3], "transactions.dlq/0/3"}} {
		m, ok := byKey[string(tc.src.Key)]
		if !ok {
			t.Errorf("record %s not replayed", tc.src.Key)
			continue
		}
		if !bytes.Equal(m.Value, tc.src.Value) {
			t.Errorf("value %q, want %q", m.Value, tc.src.Value)
		}
		if m.Partition != tc.src.Partition {
			t.Errorf("record %s replayed to partition %d, want its source partition %d", m.Key, m.Partition, tc.src.Partition)
		}
		assertHeaders(t, m.Headers, append(append([]kafka.Header{}, tc.src.Headers...), h("dlq.replayed_from", tc.from)))
	}
}

func TestReplayDryRunProducesNothing(t *testing.T) {
	ctx := testContext(t)
	addr := broker(t, map[string]int32{"transactions": 4, dlq: 1})
	deadLetter(t, addr, deadletter.Decode, deadletter.Validation, deadletter.Processing)

	var out bytes.Buffer
	st, err := deadletter.Replay(ctx, deadletter.ReplayOptions{Kafka: kafkaconn.Plain(addr), Topic: dlq, To: -1, Partition: -1, DryRun: true, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if want := (deadletter.ReplayStats{Scanned: 3, Replayed: 3}); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if n := strings.Count(out.String(), "action=would-replay\n"); n != 3 {
		t.Errorf("report:\n%s\nwant 3 would-replay lines", out.String())
	}
	if got := readAll(t, ctx, addr, "transactions"); len(got) != 0 {
		t.Errorf("dry run produced %d records", len(got))
	}
}

func TestReplaySkipsRecordsWithoutASourceOrTruncated(t *testing.T) {
	ctx := testContext(t)
	addr := broker(t, map[string]int32{"transactions": 4, dlq: 1})
	// A dead letter whose value held a card number: Record masked it.
	masked := deadletter.Record(kafka.Message{Topic: "transactions", Partition: 2, Offset: 5, Key: []byte("card-1"),
		Value: []byte(`{"transaction_id":"t1","card_id":"4111111111111111"}`)}, deadletter.Failure{Class: deadletter.Decode}, time.Now())
	kafkatest.Produce(t, addr, dlq,
		kafka.Message{Key: []byte("k"), Value: []byte("v"), Headers: []kafka.Header{h("dlq.error.class", "decode")}},
		kafka.Message{Key: []byte("k"), Value: []byte("v"), Headers: []kafka.Header{h("dlq.error.class", "decode"), h("dlq.source.topic", dlq)}},
		kafka.Message{Key: []byte("k"), Value: []byte("cut"), Headers: []kafka.Header{h("dlq.error.class", "decode"),
			h("dlq.source.topic", "transactions"), h("dlq.source.partition", "1"), h("dlq.source.offset", "9"), h("dlq.truncated", "true")}},
		kafka.Message{Key: masked.Key, Value: masked.Value, Headers: masked.Headers},
	)

	var out bytes.Buffer
	st, err := deadletter.Replay(ctx, deadletter.ReplayOptions{Kafka: kafkaconn.Plain(addr), Topic: dlq, To: -1, Partition: -1, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if want := (deadletter.ReplayStats{Scanned: 4, Skipped: 4}); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	wantOut := "partition=0 offset=0 class=decode source=-/-/- action=skipped-no-source\n" +
		"partition=0 offset=1 class=decode source=transactions.dlq/-/- action=skipped-source-is-dlq\n" +
		"partition=0 offset=2 class=decode source=transactions/1/9 action=skipped-truncated\n" +
		"partition=0 offset=3 class=decode source=transactions/2/5 action=skipped-pan-masked\n"
	if out.String() != wantOut {
		t.Errorf("report:\n%s\nwant:\n%s", out.String(), wantOut)
	}
	if got := readAll(t, ctx, addr, "transactions"); len(got) != 0 {
		t.Errorf("%d records produced, want none", len(got))
	}
}

func TestReplayTerminates(t *testing.T) {
	ctx := testContext(t)
	addr := broker(t, map[string]int32{"transactions": 4, dlq: 3})
	all := deadletter.ReplayOptions{Kafka: kafkaconn.Plain(addr), Topic: dlq, To: -1, Partition: -1}

	t.Run("on an empty DLQ", func(t *testing.T) {
		st, err := deadletter.Replay(ctx, all)
		if err != nil || st != (deadletter.ReplayStats{}) {
			t.Errorf("Replay = %+v, %v; want nothing, no error", st, err)
		}
	})
	deadLetter(t, addr, deadletter.Decode) // to one of the three partitions
	t.Run("with empty partitions", func(t *testing.T) {
		o := all
		o.DryRun = true
		st, err := deadletter.Replay(ctx, o)
		if err != nil || st != (deadletter.ReplayStats{Scanned: 1, Replayed: 1}) {
			t.Errorf("Replay = %+v, %v; want one record", st, err)
		}
	})
	t.Run("on an empty range", func(t *testing.T) {
		o := all
		o.From, o.To = 5, 4
		st, err := deadletter.Replay(ctx, o)
		if err != nil || st != (deadletter.ReplayStats{}) {
			t.Errorf("Replay = %+v, %v; want nothing, no error", st, err)
		}
	})
	t.Run("a missing topic is an error", func(t *testing.T) {
		o := all
		o.Topic = "no.such.dlq"
		if _, err := deadletter.Replay(ctx, o); !errors.Is(err, kafka.UnknownTopicOrPartition) {
			t.Errorf("Replay of a missing topic: %v, want UnknownTopicOrPartition", err)
		}
	})
	t.Run("a missing partition is an error", func(t *testing.T) {
		o := all
		o.Partition = 7
		if _, err := deadletter.Replay(ctx, o); err == nil {
			t.Error("Replay of a missing partition succeeded")
		}
	})
}
