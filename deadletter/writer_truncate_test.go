package deadletter_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/deadletter"
	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/kafkaconn"
)

// TestWriterWritesATruncatedCopyOfWhatDoesNotFit sends dead letters that
// the DLQ refuses as they are, over a real broker, and checks what lands.
func TestWriterWritesATruncatedCopyOfWhatDoesNotFit(t *testing.T) {
	ctx := testContext(t)
	addr := broker(t, nil)
	maxBytes := func(n int) kafka.ConfigEntry {
		return kafka.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(n)}
	}
	fill := func(n int) []byte { return bytes.Repeat([]byte{'x'}, n) }
	f := deadletter.Failure{Class: deadletter.Decode, Err: errors.New("body: is not valid JSON"), Attempts: 1}
	small := []kafka.Header{h("origin", "pos-7"), h("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}

	cases := []struct {
		name        string
		topic       []kafka.ConfigEntry
		maxValue    int
		key, value  []byte
		headers     []kafka.Header
		wantKey     int // bytes of the key kept
		wantValue   int // bytes of the value kept
		wantHeaders []kafka.Header
		wantDropped int
	}{{
		// The source record fits the broker; with the dlq.* headers it
		// does not (kafka-go refuses it itself: over its 1 MiB batch).
		name: "near the broker's default limit", key: []byte("card_big"), value: fill(1048400), headers: small,
		wantKey: 8, wantValue: 64 << 10, wantHeaders: small,
	}, {
		// Under kafka-go's bound, over the broker's: the broker refuses.
		name: "refused by the broker", key: []byte("card_big"), value: fill(underClientBound([]byte("card_big"), small, f)), headers: small,
		wantKey: 8, wantValue: 64 << 10, wantHeaders: small,
	}, {
		name: "a header too large", key: []byte("card_h"), value: []byte("not json"),
		headers: []kafka.Header{h("origin", "pos-7"), {Key: "blob", Value: fill(1 << 20)}, h("traceparent", "00-01")},
		wantKey: 6, wantValue: 8, wantHeaders: []kafka.Header{h("origin", "pos-7"), h("traceparent", "00-01")}, wantDropped: 1,
	}, {
		name: "a key too large", key: fill(2 << 20), value: []byte("{}"), headers: small,
		wantKey: 64 << 10, wantValue: 2, wantHeaders: small,
	}, {
		// The truncated copy still does not fit: the last resort has no
		// value and no source headers.
		name: "a DLQ topic with a small max.message.bytes", topic: []kafka.ConfigEntry{maxBytes(32 << 10)},
		key: []byte("card_s"), value: fill(40000), headers: small,
		wantKey: 6, wantValue: 0, wantHeaders: nil, wantDropped: len(small),
	}, {
		name: "a small DLQ topic and MaxValueBytes to match", topic: []kafka.ConfigEntry{maxBytes(32 << 10)}, maxValue: 8 << 10,
		key: []byte("card_s"), value: fill(40000), headers: small,
		wantKey: 6, wantValue: 8 << 10, wantHeaders: small,
	}}
	// All topics first: kafka-go's shared transport caches the cluster's
	// metadata and would not see a topic created after its first write.
	for i, tc := range cases {
		kafkatest.CreateTopic(t, addr, "dlq."+strconv.Itoa(i), 1, tc.topic...)
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			topic := "dlq." + strconv.Itoa(i)
			w := deadletter.NewWriter(kafkaconn.Plain(addr), topic)
			defer w.Close()
			w.Now = func() time.Time { return failedAt }
			w.MaxValueBytes = tc.maxValue
			var logs bytes.Buffer
			w.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			src := kafka.Message{Topic: "transactions", Partition: 2, Offset: 17, Key: tc.key, Value: tc.value, Headers: tc.headers}
			if err := w.Send(ctx, src, f); err != nil {
				t.Fatalf("Send: %v", err)
			}

			got := readAll(t, ctx, addr, topic)
			if len(got) != 1 {
				t.Fatalf("%d records in the DLQ, want 1", len(got))
			}
			d := got[0]
			if !bytes.Equal(d.Key, tc.key[:tc.wantKey]) || !bytes.Equal(d.Value, tc.value[:tc.wantValue]) {
				t.Errorf("key/value of %d/%d bytes, want the first %d/%d of the source's", len(d.Key), len(d.Value), tc.wantKey, tc.wantValue)
			}
			// The source headers that fit, every dlq.* header of Record,
			// and what says it is not the whole record.
			rec := deadletter.Record(src, f, failedAt)
			want := append([]kafka.Header{}, tc.wantHeaders...)
			want = append(want, rec.Headers[len(tc.headers):]...)
			sum := sha256.Sum256(tc.value)
			want = append(want,
				h(deadletter.HeaderTruncated, "true"),
				h(deadletter.HeaderOriginalSize, strconv.Itoa(len(tc.value))),
				h(deadletter.HeaderOriginalSHA256, hex.EncodeToString(sum[:])),
			)
			if tc.wantDropped > 0 {
				want = append(want, h(deadletter.HeaderDroppedHeaders, strconv.Itoa(tc.wantDropped)))
			}
			assertHeaders(t, d.Headers, want)
			if n := w.Truncated(); n != 1 {
				t.Errorf("Truncated() = %d, want 1", n)
			}
			if n := w.Counts()[deadletter.Decode]; n != 1 {
				t.Errorf("Counts()[decode] = %d, want 1", n)
			}
			// Said, with where the source is, and without its content (a
			// key is a card_id, a value may hold a card number).
			if !strings.Contains(logs.String(), "truncated copy") || !strings.Contains(logs.String(), "source_offset=17") {
				t.Errorf("log %q does not report the truncation of transactions/2/17", logs.String())
			}
			if bytes.Contains(logs.Bytes(), tc.key[:min(len(tc.key), 16)]) || bytes.Contains(logs.Bytes(), []byte("pos-7")) {
				t.Errorf("log %q shows the record's key or headers", logs.String())
			}
		})
	}
}

// underClientBound is the length of a value that makes the dead letter of a
// record with key and headers just fit kafka-go's 1 MiB bound on a batch,
// and so too large for the broker's default message.max.bytes, which
// counts the batch's header and the records' framing too.
func underClientBound(key []byte, headers []kafka.Header, f deadletter.Failure) int {
	rec := deadletter.Record(kafka.Message{Topic: "transactions", Partition: 2, Offset: 17, Key: key, Headers: headers}, f, failedAt)
	// kafka-go's count: 4+1+1+8 bytes of framing, 4 for each of key and
	// value, and each header's key and value with their varint lengths
	// (counted here as 2 bytes each, at least what they take).
	n := 4 + 1 + 1 + 8 + 4 + len(rec.Key) + 4 + 1
	for _, h := range rec.Headers {
		n += 2 + len(h.Key) + 2 + len(h.Value)
	}
	return 1<<20 - n
}

// TestWriterReturnsOtherErrorsAsTheyAre: only a refusal for size leads to
// a truncated copy; a DLQ that cannot be written for another reason fails
// the Send, for the caller to retry, whatever the size of the record.
func TestWriterReturnsOtherErrorsAsTheyAre(t *testing.T) {
	ctx := testContext(t)
	addr := broker(t, nil)
	w := deadletter.NewWriter(kafkaconn.Plain(addr), "missing.dlq")
	defer w.Close()
	for _, n := range []int{10, 2 << 20} {
		src := kafka.Message{Topic: "transactions", Key: []byte("card_m"), Value: bytes.Repeat([]byte{'x'}, n)}
		err := w.Send(ctx, src, deadletter.Failure{Class: deadletter.Decode})
		if !errors.Is(err, kafka.UnknownTopicOrPartition) {
			t.Errorf("Send of %d bytes to a missing topic: %v, want UnknownTopicOrPartition", n, err)
		}
	}
	if n, c := w.Truncated(), w.Counts(); n != 0 || len(c) != 0 {
		t.Errorf("Truncated() = %d, Counts() = %v after failed Sends, want none", n, c)
	}
}
