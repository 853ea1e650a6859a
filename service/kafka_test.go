package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fraudscore/scorer/deadletter"
	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/kafkaconn"
	"github.com/fraudscore/scorer/service"
)

// running is a Service started for a test, with the Kafka side up.
type running struct {
	*service.Service
	broker string
	stop   func()
}

func startService(t testing.TB, dir, brokers string) *running {
	t.Helper()
	return startConfig(t, service.Config{DataDir: dir, KafkaBrokers: brokers})
}

// startConfig runs the service with cfg on loopback ports until the test
// ends, and waits for its Kafka side.
func startConfig(t testing.TB, cfg service.Config) *running {
	t.Helper()
	cfg.HTTPAddr, cfg.EmbeddedKafkaAddr = "127.0.0.1:0", "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := service.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("service stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("service did not stop")
		}
	}
	t.Cleanup(stop)
	if len(s.Brokers()) == 0 {
		return &running{Service: s, stop: stop}
	}
	select {
	case <-s.KafkaReady():
	case <-time.After(30 * time.Second):
		t.Fatal("kafka side not ready")
	}
	return &running{Service: s, broker: s.Brokers()[0], stop: stop}
}

func txJSON(id, card string, amount int64, at time.Time, extra string) []byte {
	return []byte(fmt.Sprintf(`{"transaction_id":%q,"card_id":%q,"amount":%d,"currency":"USD","event_time":%q%s}`,
		id, card, amount, at.UTC().Format(time.RFC3339Nano), extra))
}

func (r *running) post(t testing.TB, body []byte) (fraud.Result, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := http.Post("http://"+r.Addr()+"/score", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	took := time.Since(start)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST /score: %d %s", resp.StatusCode, b)
	}
	var res fraud.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return res, took
}

// settledAlerts waits until the outbox is empty (every alert committed
// so far is acknowledged by Kafka), then returns everything on the
// alerts topic: a duplicate would be there by then.
func (r *running) settledAlerts(t *testing.T, broker string) []kafka.Message {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for r.Relay().Stats().Depth != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("outbox depth %d after 30s", r.Relay().Stats().Depth)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := kafkatest.ReadAll(ctx, broker, "fraud.alerts")
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// waitProcessed waits until the transaction is in the seen index.
func (r *running) waitProcessed(t *testing.T, ids ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range ids {
		for {
			if _, ok, _ := r.Store().Lookup(id); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("transaction %s not processed in time", id)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func alertsByTx(t *testing.T, msgs []kafka.Message) map[string]fraud.Alert {
	t.Helper()
	out := map[string]fraud.Alert{}
	for _, m := range msgs {
		var a fraud.Alert
		if err := json.Unmarshal(m.Value, &a); err != nil {
			t.Fatalf("alert is not JSON: %s", m.Value)
		}
		if _, dup := out[a.TransactionID]; dup {
			t.Errorf("transaction %s alerted twice", a.TransactionID)
		}
		if string(m.Key) != a.CardID {
			t.Errorf("alert key %q, want card_id %q", m.Key, a.CardID)
		}
		if kafkatest.Header(m, "alert_id") != a.AlertID || a.AlertID != fraud.AlertID(a.TransactionID) {
			t.Errorf("alert_id header %q, body %q, want %q", kafkatest.Header(m, "alert_id"), a.AlertID, fraud.AlertID(a.TransactionID))
		}
		out[a.TransactionID] = a
	}
	return out
}

func TestKafkaEndToEnd(t *testing.T) {
	r := startService(t, t.TempDir(), "embedded")
	now := time.Now().Add(-time.Minute)

	var msgs []kafka.Message
	add := func(id, card string, amount int64, at time.Time, extra string) {
		msgs = append(msgs, kafka.Message{Key: []byte(card), Value: txJSON(id, card, amount, at, extra)})
	}
	// An ordinary card, and a burst of six on another card within a
	// minute: the fifth and sixth trip CARD_VELOCITY_1M.
	for i := range 3 {
		add(fmt.Sprint("calm-", i), "card_calm", 2500, now.Add(time.Duration(i)*time.Minute), "")
	}
	for i := range 6 {
		add(fmt.Sprint("burst-", i), "card_burst", 1500, now.Add(time.Duration(i)*time.Second), "")
	}
	// A large amount, sent by HTTP first and then on Kafka too.
	big := txJSON("big-1", "card_big", 900000, now, "")
	httpRes, _ := r.post(t, big)
	if httpRes.AlertID == "" {
		t.Fatalf("HTTP result for a large amount has no alert: %+v", httpRes)
	}
	msgs = append(msgs, kafka.Message{Key: []byte("card_big"), Value: big})
	kafkatest.Produce(t, r.broker, "transactions", msgs...)

	r.waitProcessed(t, "calm-2", "burst-5", "big-1")
	// big-1 is stored from HTTP already: wait until the consumer has
	// processed its Kafka copy too, or a second alert could come later.
	for deadline := time.Now().Add(30 * time.Second); r.Consumer().Stats().Processed < int64(len(msgs)); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("consumer processed %d of %d records", r.Consumer().Stats().Processed, len(msgs))
		}
	}
	// Two burst alerts, and one for big-1 although it came twice.
	kafkatest.WaitFor(t, r.broker, "fraud.alerts", 3, 30*time.Second)
	got := r.settledAlerts(t, r.broker)
	byTx := alertsByTx(t, got)
	if len(got) != 3 {
		t.Fatalf("%d alerts, want 3: %v", len(got), byTx)
	}
	for _, id := range []string{"burst-4", "burst-5", "big-1"} {
		a, ok := byTx[id]
		if !ok {
			t.Errorf("no alert for %s", id)
			continue
		}
		if a.Decision != fraud.Review && a.Decision != fraud.Decline || len(a.Reasons) == 0 || a.ModelVersion == "" ||
			a.EventTime.IsZero() || a.CreatedAt.IsZero() || len(a.Features) == 0 {
			t.Errorf("alert for %s is incomplete: %+v", id, a)
		}
	}
	if a := byTx["burst-5"]; a.Reasons[0].Code != "CARD_VELOCITY_1M" {
		t.Errorf("burst alert reasons %v, want CARD_VELOCITY_1M first", a.Reasons)
	}
	// big-1 counted once although it came by HTTP and by Kafka.
	f, err := r.Store().FeaturesAt(context.Background(), "card_big", now)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := f.Get("card_tx_count_1m"); n != 1 {
		t.Errorf("card_big counted %v times, want 1", n)
	}
	if st := r.Consumer().Stats(); st.Duplicates != 1 || st.Processed != int64(len(msgs)) {
		t.Errorf("consumer stats %+v, want %d processed with 1 duplicate", st, len(msgs))
	}
}

func TestPoisonRecordsAreDeadLetteredAndReplayed(t *testing.T) {
	r := startService(t, t.TempDir(), "embedded")
	now := time.Now()
	key := []byte("card_p") // one key: one partition, in order
	poison := []kafka.Message{
		{Key: key, Value: []byte("not json at all"), Headers: []kafka.Header{{Key: "origin", Value: []byte("pos-7")}}},
		{Key: key, Value: []byte(`{"transaction_id":"bad-1","card_id":"card_p","amount":-5,"currency":"usd","event_time":"x"}`)},
		{Key: key, Value: txJSON("good-after", "card_p", 100, now, "")},
	}
	kafkatest.Produce(t, r.broker, "transactions", poison...)
	r.waitProcessed(t, "good-after")

	dlq := kafkatest.WaitFor(t, r.broker, "transactions.dlq", 2, 30*time.Second)
	if len(dlq) != 2 {
		t.Fatalf("%d records in the DLQ, want 2", len(dlq))
	}
	byClass := map[string]kafka.Message{}
	for _, m := range dlq {
		byClass[kafkatest.Header(m, "dlq.error.class")] = m
		for _, h := range []string{"dlq.error.message", "dlq.source.topic", "dlq.source.partition", "dlq.source.offset", "dlq.attempts", "dlq.failed_at"} {
			if kafkatest.Header(m, h) == "" {
				t.Errorf("DLQ record lacks header %s", h)
			}
		}
		if kafkatest.Header(m, "dlq.source.topic") != "transactions" || string(m.Key) != "card_p" {
			t.Errorf("DLQ record source %q key %q", kafkatest.Header(m, "dlq.source.topic"), m.Key)
		}
	}
	dec, ok := byClass["decode"]
	if !ok || string(dec.Value) != "not json at all" || kafkatest.Header(dec, "origin") != "pos-7" {
		t.Errorf("decode failure not kept byte for byte: %+v", dec)
	}
	val, ok := byClass["validation"]
	if !ok || !strings.Contains(kafkatest.Header(val, "dlq.error.message"), "amount") {
		t.Errorf("validation failure missing or unnamed: %+v", val)
	}

	// Replay the decode failure only: it goes back to the source topic.
	before, _ := kafkatest.ReadAll(context.Background(), r.broker, "transactions")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := deadletter.Replay(ctx, deadletter.ReplayOptions{Kafka: kafkaconn.Plain(r.broker), Topic: "transactions.dlq",
		Classes: []deadletter.Class{deadletter.Decode}, To: -1, Partition: -1, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if st.Replayed != 1 {
		t.Fatalf("replayed %d, want 1 (%+v)", st.Replayed, st)
	}
	after := kafkatest.WaitFor(t, r.broker, "transactions", len(before)+1, 10*time.Second)
	if string(after[len(after)-1].Value) != "not json at all" && !containsValue(after, "not json at all", 2) {
		t.Error("the replayed record is not on the source topic")
	}
	// It is poison still, so it lands in the DLQ a second time.
	kafkatest.WaitFor(t, r.broker, "transactions.dlq", 3, 30*time.Second)
}

func containsValue(msgs []kafka.Message, v string, n int) bool {
	c := 0
	for _, m := range msgs {
		if string(m.Value) == v {
			c++
		}
	}
	return c >= n
}

func TestBrokerOutageDelaysAlertsAndLosesNone(t *testing.T) {
	kdir := t.TempDir()
	port := freePort(t)
	cluster, broker := kafkatest.Broker(t, kdir, port)
	r := startService(t, t.TempDir(), broker)
	now := time.Now().Add(-time.Minute)

	// Warm up: the Kafka side is ready once an alert goes through.
	r.post(t, txJSON("warm", "card_w", 900000, now, ""))
	kafkatest.WaitFor(t, broker, "fraud.alerts", 1, 30*time.Second)

	cluster.Close()
	var worst time.Duration
	for i := range 20 {
		res, took := r.post(t, txJSON(fmt.Sprint("out-", i), fmt.Sprint("card_o", i), 900000, now, ""))
		if res.AlertID == "" || res.Degraded {
			t.Fatalf("answer during the outage: %+v", res)
		}
		worst = max(worst, took)
	}
	t.Logf("slowest POST /score during the outage: %s", worst)
	if d := r.Relay().Stats().Depth; d != 20 {
		t.Errorf("outbox depth during the outage = %d, want 20", d)
	}

	_, broker2 := kafkatest.Broker(t, kdir, port)
	if broker2 != broker {
		t.Fatalf("broker came back on %s, want %s", broker2, broker)
	}
	kafkatest.WaitFor(t, broker, "fraud.alerts", 21, 60*time.Second)
	got := r.settledAlerts(t, broker)
	byTx := alertsByTx(t, got)
	if len(got) != 21 || len(byTx) != 21 {
		t.Errorf("%d alerts for %d transactions after the outage, want 21 once each", len(got), len(byTx))
	}
	if d := r.Relay().Stats().Depth; d != 0 {
		t.Errorf("outbox depth after recovery = %d", d)
	}
}

func TestKcatReadsAlerts(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat is not installed (apt-get install kcat; .ci/run does): skipping the kcat end-to-end test")
	}
	r := startService(t, t.TempDir(), "embedded")
	r.post(t, txJSON("kcat-1", "card_k", 900000, time.Now(), ""))
	kafkatest.WaitFor(t, r.broker, "fraud.alerts", 1, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kcat, "-C", "-b", r.broker, "-t", "fraud.alerts", "-o", "beginning", "-e", "-q",
		"-f", "%k %h %s\n").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "card_k") || !strings.Contains(string(out), `"transaction_id":"kcat-1"`) ||
		!strings.Contains(string(out), "alert_id="+fraud.AlertID("kcat-1")) {
		t.Errorf("kcat output lacks the alert:\n%s", out)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p, _ := strconv.Atoi(strings.Split(l.Addr().String(), ":")[1])
	return p
}

// BenchmarkAlertLatency measures the time from a POST /score answer with
// an alert to the alert's acknowledgement by the broker (acks=all), one
// alert at a time, on the embedded broker.
func BenchmarkAlertLatency(b *testing.B) {
	r := startService(b, b.TempDir(), "embedded")
	now := time.Now().Add(-time.Minute)
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		before := r.Relay().Stats().Published
		r.post(b, txJSON(fmt.Sprint("lat-", i), fmt.Sprint("card_l", i), 900000, now, ""))
		start := time.Now()
		for r.Relay().Stats().Published == before {
			time.Sleep(100 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max_ms")
}

func TestSlowBrokerDoesNotSlowScoring(t *testing.T) {
	cluster, broker := kafkatest.Broker(t, "", 0)
	r := startService(t, t.TempDir(), broker)
	now := time.Now().Add(-time.Minute)
	r.post(t, txJSON("warm", "card_w", 900000, now, ""))
	kafkatest.WaitFor(t, broker, "fraud.alerts", 1, 30*time.Second)

	// Every produce request now takes a second at the broker.
	var slow atomic.Bool
	slow.Store(true)
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if slow.Load() {
			time.Sleep(time.Second)
		}
		return nil, nil, false
	})
	var worst time.Duration
	for i := range 10 {
		res, took := r.post(t, txJSON(fmt.Sprint("slow-", i), fmt.Sprint("card_s", i), 900000, now, ""))
		if res.AlertID == "" || res.Degraded {
			t.Fatalf("answer with a slow broker: %+v", res)
		}
		worst = max(worst, took)
	}
	t.Logf("slowest POST /score with a 1 s broker: %s", worst)
	// A correctness bound, not a speed one: scoring must not wait on the
	// broker at all, so no answer can take as long as one produce.
	if worst >= time.Second {
		t.Errorf("scoring waited for the broker: slowest answer %s", worst)
	}
	// The alerts still all arrive, once each.
	got := kafkatest.WaitFor(t, broker, "fraud.alerts", 11, 60*time.Second)
	slow.Store(false)
	if byTx := alertsByTx(t, got); len(byTx) != 11 {
		t.Errorf("%d distinct alerts, want 11", len(byTx))
	}
}
