package service_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/service"
)

// windowFeatures are the default features (the rules and the model read
// them) and two windows that close.
var windowFeatures = string(features.DefaultYAML()) + `
  - {name: card_amount_sum_5m_tumbling, entity: card_id, agg: sum, field: amount, window: {type: tumbling, size: 5m}}
  - {name: card_session_tx_count, entity: card_id, agg: count, window: {type: session, gap: 6m}}
`

type windowMsg struct {
	Feature     string    `json:"feature"`
	Entity      string    `json:"entity"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Value       float64   `json:"value"`
	Count       int       `json:"count"`
}

func startWindows(t *testing.T, dir string, lateness time.Duration) *running {
	t.Helper()
	path := filepath.Join(t.TempDir(), "features.yaml")
	if err := os.WriteFile(path, []byte(windowFeatures), 0o600); err != nil {
		t.Fatal(err)
	}
	return startConfig(t, service.Config{DataDir: dir, KafkaBrokers: "embedded", FeaturesFile: path, AllowedLateness: lateness})
}

// exercise2 is the seed's Exercise 2 on one card, at a base time aligned
// to 5 minutes in the recent past: e1..e5 in arrival order (e4 arrives
// after e3, 30 s before its window's end), then an event at +19m that
// moves stream time past both windows' close and the session's (e1..e5,
// no gap of 6 minutes between them).
func exercise2(base time.Time) []kafka.Message {
	ev := []struct {
		id     string
		at     time.Duration
		amount int64
	}{
		{"e1", 5 * time.Second, 10}, {"e2", 4*time.Minute + 59*time.Second, 5}, {"e3", 5*time.Minute + 10*time.Second, 8},
		{"e4", 4*time.Minute + 30*time.Second, 7}, {"e5", 9*time.Minute + 59*time.Second, 3}, {"e6", 19 * time.Minute, 1},
	}
	var msgs []kafka.Message
	for _, e := range ev {
		msgs = append(msgs, kafka.Message{Key: []byte("card_ex2"), Value: txJSON(e.id, "card_ex2", e.amount, base.Add(e.at), "")})
	}
	return msgs
}

func windowsOf(t *testing.T, broker string, n int) map[string]windowMsg {
	t.Helper()
	msgs := kafkatest.WaitFor(t, broker, "velocity.windows", n, 30*time.Second)
	out := map[string]windowMsg{}
	for _, m := range msgs {
		var w windowMsg
		if err := json.Unmarshal(m.Value, &w); err != nil {
			t.Fatalf("window message %s: %v", m.Value, err)
		}
		k := fmt.Sprintf("%s@%s", w.Feature, w.WindowStart.Format("15:04:05"))
		if _, dup := out[k]; dup {
			t.Errorf("window %s emitted twice", k)
		}
		out[k] = w
	}
	return out
}

func TestExercise2TumblingSumsWithLateness(t *testing.T) {
	base := time.Now().UTC().Add(-time.Hour).Truncate(5 * time.Minute)
	at := func(d time.Duration) string { return base.Add(d).Format("15:04:05") }

	t.Run("2 minutes of lateness keep e4 in its window", func(t *testing.T) {
		r := startWindows(t, t.TempDir(), 2*time.Minute)
		kafkatest.Produce(t, r.broker, "transactions", exercise2(base)...)
		r.waitProcessed(t, "e6")
		// Two tumbling windows and the session e1..e5.
		got := windowsOf(t, r.broker, 3)
		first, second := got["card_amount_sum_5m_tumbling@"+at(0)], got["card_amount_sum_5m_tumbling@"+at(5*time.Minute)]
		if first.Value != 22 || first.Count != 3 || first.Entity != "card_ex2" {
			t.Errorf("[12:00, 12:05) = %+v, want sum 22 of 3 (e1, e2 and the late e4)", first)
		}
		if second.Value != 11 || second.Count != 2 {
			t.Errorf("[12:05, 12:10) = %+v, want sum 11 of 2 (e3, e5)", second)
		}
		if s := got["card_session_tx_count@"+at(5*time.Second)]; s.Value != 5 || !s.WindowEnd.Equal(base.Add(9*time.Minute+59*time.Second)) {
			t.Errorf("session = %+v, want e1..e5 (5 events, ending at e5)", s)
		}
		if late := kafkatest.WaitFor(t, r.broker, "transactions.late", 0, time.Second); len(late) != 0 {
			t.Errorf("%d events on transactions.late, want none", len(late))
		}
	})

	t.Run("5 seconds of lateness drop e4, which goes to transactions.late", func(t *testing.T) {
		r := startWindows(t, t.TempDir(), 5*time.Second)
		kafkatest.Produce(t, r.broker, "transactions", exercise2(base)...)
		r.waitProcessed(t, "e6")
		got := windowsOf(t, r.broker, 2)
		if first := got["card_amount_sum_5m_tumbling@"+at(0)]; first.Value != 15 || first.Count != 2 {
			t.Errorf("[12:00, 12:05) = %+v, want sum 15 of 2 (e4 dropped as late)", first)
		}
		late := kafkatest.WaitFor(t, r.broker, "transactions.late", 1, 30*time.Second)
		if len(late) != 1 || kafkatest.Header(late[0], "transaction_id") != "e4" {
			t.Fatalf("transactions.late %v, want e4 alone", late)
		}
		if n := r.Store().Stats().LateForWindow; n != 1 {
			t.Errorf("LateForWindow = %d, want 1", n)
		}
	})
}

// TestClosedWindowsAreEmittedOnceAcrossARestart: windows closed before a
// restart are not emitted again after it, and windows due while the
// service was down are emitted once it is back.
func TestClosedWindowsAreEmittedOnceAcrossARestart(t *testing.T) {
	base := time.Now().UTC().Add(-time.Hour).Truncate(5 * time.Minute)
	dir := t.TempDir()
	r := startWindows(t, dir, 2*time.Minute)
	msgs := exercise2(base)
	kafkatest.Produce(t, r.broker, "transactions", msgs[:5]...)
	r.waitProcessed(t, "e5")
	windowsOf(t, r.broker, 1) // [12:00, 12:05) closed by e5 (watermark 12:07:59)
	r.stop()

	// The embedded broker keeps its log in the data dir: the topic holds
	// what was published before the restart.
	r = startWindows(t, dir, 2*time.Minute)
	kafkatest.Produce(t, r.broker, "transactions", msgs[5])
	r.waitProcessed(t, "e6")
	got := windowsOf(t, r.broker, 3)
	if len(got) != 3 {
		t.Errorf("windows %v, want each of the three once", got)
	}
}
