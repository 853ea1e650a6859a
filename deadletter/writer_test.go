package deadletter_test

import (
	"bytes"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/deadletter"
	"github.com/fraudscore/scorer/kafkaconn"
)

func TestWriterSendsRecordsToTheDLQ(t *testing.T) {
	ctx := testContext(t)
	addr := broker(t, map[string]int32{"transactions.dlq": 1})
	w := deadletter.NewWriter(kafkaconn.Plain(addr), "transactions.dlq")
	defer w.Close()
	w.Now = func() time.Time { return failedAt }

	src := source()
	failures := []deadletter.Failure{
		{Class: deadletter.Decode, Err: errors.New("invalid character 'n'"), Attempts: 1},
		{Class: deadletter.Processing, Err: errors.New("velocity store: timeout"), Attempts: 5},
		{Class: deadletter.Decode, Err: errors.New("unexpected end of JSON input")},
	}
	for _, f := range failures {
		if err := w.Send(ctx, src, f); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}

	got := readAll(t, ctx, addr, "transactions.dlq")
	if len(got) != len(failures) {
		t.Fatalf("%d records in the DLQ, want %d", len(got), len(failures))
	}
	for i, f := range failures {
		want := deadletter.Record(src, f, failedAt)
		if !bytes.Equal(got[i].Key, want.Key) || !bytes.Equal(got[i].Value, want.Value) {
			t.Errorf("record %d key/value = %q/%q, want %q/%q", i, got[i].Key, got[i].Value, want.Key, want.Value)
		}
		assertHeaders(t, got[i].Headers, want.Headers)
	}
	if got, want := w.Counts(), map[deadletter.Class]int64{deadletter.Decode: 2, deadletter.Processing: 1}; !maps.Equal(got, want) {
		t.Errorf("Counts() = %v, want %v", got, want)
	}
}

func TestWriterSendFailsWithoutTheTopic(t *testing.T) {
	ctx := testContext(t)
	addr := broker(t, nil)
	w := deadletter.NewWriter(kafkaconn.Plain(addr), "missing.dlq")
	defer w.Close()
	if err := w.Send(ctx, kafka.Message{Topic: "transactions"}, deadletter.Failure{Class: deadletter.Decode}); err == nil {
		t.Fatal("Send to a missing topic succeeded")
	}
	if got := w.Counts(); len(got) != 0 {
		t.Errorf("Counts() = %v after a failed Send, want none", got)
	}
}
