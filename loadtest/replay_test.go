package loadtest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fraudscore/scorer/fraud"
)

func TestReplay(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "tx.jsonl")
	os.WriteFile(log, []byte(`{"transaction_id":"a","card_id":"card_1","amount":100,"currency":"USD","event_time":"2019-01-01T00:00:00Z","extra":1}

{"transaction_id":"b","card_id":"card_1","amount":200,"currency":"USD","event_time":"2019-01-01T00:00:30Z"}
{"transaction_id":"c","card_id":"card_2","amount":900000,"currency":"USD","event_time":"2019-01-01T01:00:30Z"}
`), 0o644)
	labels := filepath.Join(dir, "labels.csv")
	os.WriteFile(labels, []byte("transaction_id,is_fraud\na,0\nb,0\nc,1\n"), 0o644)
	lab, err := ReadLabels(labels)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	r, err := OpenReplay(log, "run9", lab, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []Event
	for {
		ev, ok := r.Next()
		if !ok {
			break
		}
		got = append(got, ev)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id    string
		at    time.Time
		fraud bool
	}{
		{"run9-ra", now.Add(-time.Hour - 30*time.Second), false},
		{"run9-rb", now.Add(-time.Hour), false},
		{"run9-rc", now, true},
	}
	if len(got) != len(want) {
		t.Fatalf("replayed %d events, want %d", len(got), len(want))
	}
	for i, w := range want {
		if g := got[i]; g.Tx.ID != w.id || !g.Tx.EventTime.Equal(w.at) || g.Fraud != w.fraud {
			t.Errorf("event %d = %s at %v fraud %v; want %s at %v fraud %v", i, g.Tx.ID, g.Tx.EventTime, g.Fraud, w.id, w.at, w.fraud)
		}
	}

	t.Run("a malformed line ends the replay with an error", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.jsonl")
		os.WriteFile(bad, []byte(`{"transaction_id":"a","event_time":"2019-01-01T00:00:00Z"}`+"\nnot json\n"), 0o644)
		if _, err := OpenReplay(bad, "r", nil, nil); err == nil {
			t.Error("OpenReplay accepted a malformed log")
		}
	})

	t.Run("the Sparkov sample replays", func(t *testing.T) {
		const sample = "../../shared/data/sparkov/transactions.jsonl"
		if _, err := os.Stat(sample); err != nil {
			t.Skip("sample not present")
		}
		lab, err := ReadLabels("../../shared/data/sparkov/labels.csv")
		if err != nil {
			t.Fatal(err)
		}
		r, err := OpenReplay(sample, "r", lab, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		n, frauds := 0, 0
		var last time.Time
		for {
			ev, ok := r.Next()
			if !ok {
				break
			}
			n++
			if ev.Fraud {
				frauds++
			}
			last = ev.Tx.EventTime
		}
		if r.Err() != nil || n != 7184 || frauds != 33 || time.Since(last) > time.Minute {
			t.Errorf("replayed %d events (%d fraud), last at %v, err %v; want 7184 (33), last about now", n, frauds, last, r.Err())
		}
	})
}

// TestReplayDigestIDsStayValid: a log's hex-digest transaction_id whose
// inner digits pass for a card number (a real Sparkov id) is valid on its
// own, but not once the run id is put before it: the replay sends a token
// then, which the service accepts.
func TestReplayDigestIDsStayValid(t *testing.T) {
	log := filepath.Join(t.TempDir(), "tx.jsonl")
	os.WriteFile(log, []byte(`{"transaction_id":"79a1f841806fde00d28172958952223d","card_id":"card_1","amount":100,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}
{"transaction_id":"0b242abb623afc578575680df30655b9","card_id":"card_1","amount":100,"currency":"USD","event_time":"2019-01-01T00:00:01Z"}
`), 0o644)
	r, err := OpenReplay(log, "run9", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var ids []string
	for ev, ok := r.Next(); ok; ev, ok = r.Next() {
		ids = append(ids, ev.Tx.ID)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[1] != "run9-r0b242abb623afc578575680df30655b9" {
		t.Fatalf("ids %q, want two, the second as in the log after the run id", ids)
	}
	for _, id := range ids {
		if msg := fraud.CheckTransactionID(id); msg != "" {
			t.Errorf("replayed id %q: %s", id, msg)
		}
	}
}
