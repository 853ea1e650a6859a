package deadletter_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fraudscore/scorer/deadletter"
	"github.com/fraudscore/scorer/kafkaconn"
)

// dlqSet are the dlq.* headers Record adds for failed() at failedAt to a
// record from transactions/3/1042.
func dlqSet() []kafka.Header {
	return []kafka.Header{
		h("dlq.error.class", "validation"),
		h("dlq.error.message", "card_id: looks like a raw card number"),
		h("dlq.source.topic", "transactions"),
		h("dlq.source.partition", "3"),
		h("dlq.source.offset", "1042"),
		h("dlq.attempts", "1"),
		h("dlq.failed_at", "2026-03-04T05:06:07.089Z"),
	}
}

func failed() deadletter.Failure {
	return deadletter.Failure{Class: deadletter.Validation, Err: errors.New("card_id: looks like a raw card number"), Attempts: 1}
}

func TestRecordMasksCardNumbersInTheRecord(t *testing.T) {
	masked := h("dlq.pan_masked", "true")
	tests := []struct {
		name        string
		key, value  []byte
		headers     []kafka.Header
		wantKey     []byte
		wantValue   []byte
		wantHeaders []kafka.Header // the source headers, as copied
		wantMasked  bool
	}{
		{
			name:  "nothing to mask",
			key:   []byte("card_7f3a9c"),
			value: []byte(`{"card_id":"card_7f3a9c","amount":100}`), headers: []kafka.Header{h("origin", "pos-7")},
			wantKey: []byte("card_7f3a9c"), wantValue: []byte(`{"card_id":"card_7f3a9c","amount":100}`), wantHeaders: []kafka.Header{h("origin", "pos-7")},
		},
		{
			name:    "a card number in the value",
			key:     []byte("card_7f3a9c"),
			value:   []byte(`{"card_id":"4111 1111 1111 1111","amount":100}`),
			wantKey: []byte("card_7f3a9c"), wantValue: []byte(`{"card_id":"**** **** **** ****","amount":100}`), wantMasked: true,
		},
		{
			name:    "a card number in the key",
			key:     []byte("4111111111111111"),
			value:   []byte(`{"card_id":"card_7f3a9c"}`),
			wantKey: []byte("****************"), wantValue: []byte(`{"card_id":"card_7f3a9c"}`), wantMasked: true,
		},
		{
			name:      "a card number in a header",
			value:     []byte("v"),
			headers:   []kafka.Header{h("origin", "pos-7"), h("card", "pan:4111-1111-1111-1111"), {Key: "empty"}},
			wantValue: []byte("v"), wantHeaders: []kafka.Header{h("origin", "pos-7"), h("card", "pan:****-****-****-****"), {Key: "empty"}}, wantMasked: true,
		},
		{
			name:      "escaped and full-width digits in the value",
			value:     []byte(`{"transaction_id":"\u0034\u0031\u0031\u0031111111111111","card_id":"４１１１１１１１１１１１１１１１"}`),
			wantValue: []byte(`{"transaction_id":"****************","card_id":"****************"}`), wantMasked: true,
		},
		{
			name:      "invalid UTF-8 around a card number",
			value:     []byte("\xff4111111111111111\xfe"),
			wantValue: []byte("\xff****************\xfe"), wantMasked: true,
		},
		{
			name:      "a record masked by an earlier dead-lettering keeps the header, once",
			value:     []byte(`{"card_id":"****************"}`),
			headers:   []kafka.Header{h("origin", "pos-7"), masked},
			wantValue: []byte(`{"card_id":"****************"}`), wantHeaders: []kafka.Header{h("origin", "pos-7")}, wantMasked: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := kafka.Message{Topic: "transactions", Partition: 3, Offset: 1042, Key: bytes.Clone(tt.key), Value: bytes.Clone(tt.value), Headers: tt.headers}
			got := deadletter.Record(src, failed(), failedAt)
			if !bytes.Equal(got.Key, tt.wantKey) || !bytes.Equal(got.Value, tt.wantValue) {
				t.Errorf("key/value = %q/%q, want %q/%q", got.Key, got.Value, tt.wantKey, tt.wantValue)
			}
			want := append(append([]kafka.Header{}, tt.wantHeaders...), dlqSet()...)
			if tt.wantMasked {
				want = append(want, masked)
			}
			assertHeaders(t, got.Headers, want)
			if !bytes.Equal(src.Key, tt.key) || !bytes.Equal(src.Value, tt.value) {
				t.Errorf("Record changed the source key/value to %q/%q", src.Key, src.Value)
			}
		})
	}
}

// kafka-go reads a null value and an empty one both as nil; Record writes
// an empty value, as a null one would be a tombstone in a compacted DLQ.
func TestRecordWritesAnEmptyValueForANilOne(t *testing.T) {
	tests := []struct {
		name    string
		key     []byte
		value   []byte
		wantKey []byte
	}{
		{name: "nil value and nil key", key: nil, value: nil, wantKey: nil},
		{name: "nil value with a key", key: []byte("card_1"), value: nil, wantKey: []byte("card_1")},
		{name: "empty value", key: nil, value: []byte{}, wantKey: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := deadletter.Record(kafka.Message{Key: tt.key, Value: tt.value}, failed(), failedAt)
			if got.Value == nil || len(got.Value) != 0 {
				t.Errorf("Value = %#v, want an empty, non-nil slice", got.Value)
			}
			if (got.Key == nil) != (tt.wantKey == nil) || !bytes.Equal(got.Key, tt.wantKey) {
				t.Errorf("Key = %#v, want %#v", got.Key, tt.wantKey)
			}
		})
	}
}

// A masked dead letter goes through the DLQ masked, and a replay leaves it
// there: replayed, the masked record would be another payment (a masked
// card_id is another card). The original is at its source offset.
func TestReplaySkipsPANMasked(t *testing.T) {
	ctx := testContext(t)
	addr := broker(t, map[string]int32{"transactions": 4, dlq: 1})
	w := deadletter.NewWriter(kafkaconn.Plain(addr), dlq)
	defer w.Close()
	src := kafka.Message{
		Topic: "transactions", Partition: 2, Offset: 7,
		Key:     []byte("card_7f3a9c"),
		Value:   []byte(`{"card_id":"4111111111111111"}`),
		Headers: []kafka.Header{h("origin", "pos-7")},
	}
	if err := w.Send(ctx, src, failed()); err != nil {
		t.Fatal(err)
	}
	dead := readAll(t, ctx, addr, dlq)
	if len(dead) != 1 || value(dead[0], "dlq.pan_masked") != "true" || string(dead[0].Value) != `{"card_id":"****************"}` {
		t.Fatalf("DLQ holds %+v, want one masked record marked dlq.pan_masked", dead)
	}

	var out strings.Builder
	st, err := deadletter.Replay(ctx, deadletter.ReplayOptions{Kafka: kafkaconn.Plain(addr), Topic: dlq, To: -1, Partition: -1, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if st != (deadletter.ReplayStats{Scanned: 1, Skipped: 1}) || !strings.Contains(out.String(), "source=transactions/2/7 action=skipped-pan-masked") {
		t.Errorf("stats %+v, report %q; want the masked record skipped, naming its source", st, out.String())
	}
	if got := readAll(t, ctx, addr, "transactions"); len(got) != 0 {
		t.Fatalf("%d records replayed, want none", len(got))
	}
}

// On the wire, a nil source value is an empty value, not null. kafka-go
// reads both as nil, so the record is read with franz-go, which does not.
func TestWriterSendsANilValueAsEmpty(t *testing.T) {
	ctx := testContext(t)
	addr := broker(t, map[string]int32{dlq: 1})
	w := deadletter.NewWriter(kafkaconn.Plain(addr), dlq)
	defer w.Close()
	if err := w.Send(ctx, kafka.Message{Topic: "transactions", Key: []byte("card_1")}, failed()); err != nil {
		t.Fatal(err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(dlq), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for len(recs) == 0 {
		fetches := cl.PollFetches(ctx)
		if err := fetches.Err0(); err != nil {
			t.Fatalf("fetch: %v", err)
		}
		recs = append(recs, fetches.Records()...)
	}
	if v := recs[0].Value; v == nil || len(v) != 0 {
		t.Errorf("value on the wire = %#v, want empty, not null", v)
	}
}
