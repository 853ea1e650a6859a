package deadletter_test

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/deadletter"
)

var failedAt = time.Date(2026, 3, 4, 6, 6, 7, 89_000_000, time.FixedZone("CET", 3600))

func source() kafka.Message {
	return kafka.Message{
		Topic: "transactions", Partition: 3, Offset: 1042,
		Key:   []byte("card_42"),
		Value: []byte("{\"amount\":\x00\xff not json"),
		Headers: []kafka.Header{
			{Key: "origin", Value: []byte("pos-7")},
			{Key: "binary", Value: []byte{0, 1, 0xfe, 0xff}},
			{Key: "origin", Value: []byte("duplicate key, kept")},
			{Key: "empty", Value: nil},
		},
	}
}

func TestRecordKeepsTheOriginalAndAddsTheFailure(t *testing.T) {
	src := source()
	got := deadletter.Record(src, deadletter.Failure{Class: deadletter.Validation, Err: errors.New("amount: must be positive"), Attempts: 2}, failedAt)

	if got.Topic != "" {
		t.Errorf("Topic = %q, want empty for the writer to set", got.Topic)
	}
	if !bytes.Equal(got.Key, src.Key) || !bytes.Equal(got.Value, src.Value) {
		t.Errorf("key/value = %q/%q, want %q/%q", got.Key, got.Value, src.Key, src.Value)
	}
	want := append(append([]kafka.Header{}, src.Headers...),
		h("dlq.error.class", "validation"),
		h("dlq.error.message", "amount: must be positive"),
		h("dlq.source.topic", "transactions"),
		h("dlq.source.partition", "3"),
		h("dlq.source.offset", "1042"),
		h("dlq.attempts", "2"),
		h("dlq.failed_at", "2026-03-04T05:06:07.089Z"),
	)
	assertHeaders(t, got.Headers, want)
}

func TestRecordDefaults(t *testing.T) {
	got := deadletter.Record(kafka.Message{Topic: "transactions"}, deadletter.Failure{}, failedAt)
	for k, want := range map[string]string{"dlq.error.class": "processing", "dlq.error.message": "", "dlq.attempts": "1"} {
		if v := value(got, k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
}

func TestRecordReplacesAnEarlierDeadLettering(t *testing.T) {
	src := source()
	first := deadletter.Record(src, deadletter.Failure{Class: deadletter.Processing, Err: errors.New("store down"), Attempts: 5}, failedAt)
	// As Replay sends it back, and as the consumer sees it again.
	again := first
	again.Topic, again.Partition, again.Offset = "transactions", 1, 7
	again.Headers = append(again.Headers, h("dlq.replayed_from", "transactions.dlq/0/12"))

	later := failedAt.Add(time.Hour)
	got := deadletter.Record(again, deadletter.Failure{Class: deadletter.Decode, Err: errors.New("bad json"), Attempts: 1}, later)

	want := append(append([]kafka.Header{}, src.Headers...),
		h("dlq.replayed_from", "transactions.dlq/0/12"),
		h("dlq.error.class", "decode"),
		h("dlq.error.message", "bad json"),
		h("dlq.source.topic", "transactions"),
		h("dlq.source.partition", "1"),
		h("dlq.source.offset", "7"),
		h("dlq.attempts", "1"),
		h("dlq.failed_at", "2026-03-04T06:06:07.089Z"),
	)
	assertHeaders(t, got.Headers, want)
}

func TestRecordMasksCardNumbers(t *testing.T) {
	tests := []struct {
		name, give, want string
	}{
		{"16 digits", "card 4111111111111111 declined", "card **************** declined"},
		{"13 digits", "pan=4222222222222.", "pan=*************."},
		{"19 digits", "x6011000990139424123y", "x*******************y"},
		{"longer runs too", "id 12345678901234567890123", "id ***********************"},
		{"spaced groups", "card 4111 1111 1111 1111 expired", "card **** **** **** **** expired"},
		{"dashed groups", "4111-1111-1111-1111", "****-****-****-****"},
		{"12 digits stay", "offset 123456789012", "offset 123456789012"},
		{"timestamps stay", "at 2026-01-02 10:11:12.123", "at 2026-01-02 10:11:12.123"},
		{"two numbers", "a 5500005555555559 b 4111111111111111", "a **************** b ****************"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := value(deadletter.Record(kafka.Message{}, deadletter.Failure{Err: errors.New(tt.give)}, failedAt), "dlq.error.message")
			if got != tt.want {
				t.Errorf("message %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRecordTruncatesLongMessages(t *testing.T) {
	long := strings.Repeat("é", 2000) + " card 4111111111111111"
	got := value(deadletter.Record(kafka.Message{}, deadletter.Failure{Err: errors.New(long)}, failedAt), "dlq.error.message")
	if len(got) > deadletter.MaxMessage || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("message of %d bytes (valid UTF-8 %v) ending %q, want at most %d ending in an ellipsis",
			len(got), utf8.ValidString(got), got[len(got)-8:], deadletter.MaxMessage)
	}
}

var panRun = regexp.MustCompile(`[0-9]{13}`)

func FuzzRecordMessage(f *testing.F) {
	f.Add("card 4111111111111111")
	f.Add(strings.Repeat("1", 2000))
	f.Add(strings.Repeat("123456789012 ", 100))
	f.Add("4111 1111-1111 1111 1")
	f.Fuzz(func(t *testing.T, msg string) {
		got := value(deadletter.Record(kafka.Message{}, deadletter.Failure{Err: errors.New(msg)}, failedAt), "dlq.error.message")
		if len(got) > deadletter.MaxMessage {
			t.Errorf("message of %d bytes", len(got))
		}
		if panRun.MatchString(got) {
			t.Errorf("message %q holds a 13-digit run", got)
		}
	})
}

func h(k, v string) kafka.Header { return kafka.Header{Key: k, Value: []byte(v)} }

// value returns the last header k of m.
func value(m kafka.Message, k string) string {
	v := ""
	for _, h := range m.Headers {
		if h.Key == k {
			v = string(h.Value)
		}
	}
	return v
}

func assertHeaders(t *testing.T, got, want []kafka.Header) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d headers %s, want %d %s", len(got), fmtHeaders(got), len(want), fmtHeaders(want))
	}
	for i := range want {
		if got[i].Key != want[i].Key || !bytes.Equal(got[i].Value, want[i].Value) {
			t.Errorf("header %d = %s=%q, want %s=%q", i, got[i].Key, got[i].Value, want[i].Key, want[i].Value)
		}
	}
}

func fmtHeaders(hs []kafka.Header) string {
	var b strings.Builder
	for _, h := range hs {
		b.WriteString(h.Key + "=" + string(h.Value) + " ")
	}
	return b.String()
}
