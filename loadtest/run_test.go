package loadtest

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fraudscore/scorer/fraud"
)

// slowServer answers POST /score after work of serviceTime, at most
// `slots` at a time: its capacity is slots/serviceTime requests per second.
// It declines transactions of 5000.00 or more and those with a failed status.
func slowServer(t *testing.T, slots int, serviceTime time.Duration) *httptest.Server {
	t.Helper()
	sem := make(chan struct{}, slots)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/score" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		var tx fraud.Transaction
		if err := json.NewDecoder(r.Body).Decode(&tx); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sem <- struct{}{}
		time.Sleep(serviceTime)
		<-sem
		d := fraud.Approve
		if tx.Amount >= 500000 || tx.Status.Failed() {
			d = fraud.Decline
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"transaction_id": tx.ID, "decision": d})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func testGenerator(runID string) *Generator {
	return NewGenerator(GeneratorConfig{Seed: 1, Cards: 1000, FraudRate: 0.1, RunID: runID})
}

// checkCounts asserts the report's invariants.
func checkCounts(t *testing.T, rep *Report, offered int64) {
	t.Helper()
	var sum int64
	for _, n := range rep.Status {
		sum += n
	}
	if got := sum + rep.Dropped; got != offered || rep.Requests != offered {
		t.Errorf("status counts %d + dropped %d = %d, requests %d; want both %d (the schedule's offer)",
			sum, rep.Dropped, got, rep.Requests, offered)
	}
	if rep.Sent != sum {
		t.Errorf("sent = %d, want the sum of status counts %d", rep.Sent, sum)
	}
	if got := rep.Successes + rep.Shed + rep.Errors; got != rep.Sent {
		t.Errorf("ok %d + shed %d + errors %d = %d, want sent %d", rep.Successes, rep.Shed, rep.Errors, got, rep.Sent)
	}
	if got, want := rep.Throughput*rep.DurationS, float64(rep.Successes); math.Abs(got-want) > 1e-6*want+1e-9 {
		t.Errorf("throughput %.3f/s × duration %.3fs = %.3f, want the successes %v", rep.Throughput, rep.DurationS, got, want)
	}
	if got := rep.Latency.Count; got != rep.Sent {
		t.Errorf("latency histogram holds %d values, want one per answer (%d)", got, rep.Sent)
	}
	if got := rep.OKLatency.Count; got != rep.Successes {
		t.Errorf("admitted latency histogram holds %d values, want one per success (%d)", got, rep.Successes)
	}
	var timeline int64
	for _, s := range rep.Timeline {
		timeline += s.Count
	}
	if timeline != rep.Sent {
		t.Errorf("timeline counts %d answers, want %d", timeline, rep.Sent)
	}
	checkStagesAddUp(t, rep)
}

// checkStagesAddUp asserts that the per-stage summaries add up to the
// report's totals, and that each is consistent in itself.
func checkStagesAddUp(t *testing.T, rep *Report) {
	t.Helper()
	var sum StageSummary
	for _, s := range rep.Stages {
		sum.Requests += s.Requests
		sum.Sent += s.Sent
		sum.OK += s.OK
		sum.Shed += s.Shed
		sum.Errors += s.Errors
		sum.Dropped += s.Dropped
		sum.OKLatency.Count += s.OKLatency.Count
		if s.Requests != s.Sent+s.Dropped || s.Sent != s.OK+s.Shed+s.Errors {
			t.Errorf("stage %d: %+v does not add up", s.Stage, s)
		}
		if s.OKLatency.Count != s.OK {
			t.Errorf("stage %d: admitted latency of %d answers, want its %d successes", s.Stage, s.OKLatency.Count, s.OK)
		}
	}
	want := StageSummary{Requests: rep.Requests, Sent: rep.Sent, OK: rep.Successes, Shed: rep.Shed, Errors: rep.Errors,
		Dropped: rep.Dropped, OKLatency: Percentiles{Count: rep.OKLatency.Count}}
	if sum != want {
		t.Errorf("stages add up to %+v, want the totals %+v", sum, want)
	}
}

func TestRunIsOpenLoop(t *testing.T) {
	// Capacity 2 / 20ms = 100/s, offered 200/s for 2s.
	srv := slowServer(t, 2, 20*time.Millisecond)
	target := NewHTTPTarget(HTTPConfig{BaseURL: srv.URL, MaxInFlight: 2})
	defer target.Close()
	sched := Schedule{{2 * time.Second, 200}}

	t.Run("latency from the due time grows with the queue; service time does not", func(t *testing.T) {
		// A long slack lets requests queue behind the 2 workers, as in wrk2.
		rep, err := Run(context.Background(), Config{Schedule: sched, MaxInFlight: 2, Slack: 700 * time.Millisecond}, testGenerator("q"), target)
		if err != nil {
			t.Fatal(err)
		}
		checkCounts(t, rep, sched.Total())
		t.Logf("latency %+v\nservice %+v\ndropped %d status %v", rep.Latency, rep.Service, rep.Dropped, rep.Status)
		if rep.Latency.P99 < 5*rep.Service.P50 {
			t.Errorf("latency p99 %s, service p50 %s: want the latency to grow far past the service time (>= 5x)",
				fmtMs(rep.Latency.P99), fmtMs(rep.Service.P50))
		}
		if rep.Latency.P50 < 2*rep.Service.P50 {
			t.Errorf("latency p50 %s, service p50 %s: the queue should show in the median too",
				fmtMs(rep.Latency.P50), fmtMs(rep.Service.P50))
		}
		if rep.Dropped == 0 {
			t.Errorf("no request dropped at twice the capacity with a bounded slack")
		}
		if rep.Status["200"] == 0 {
			t.Fatalf("no 200 answers: %v %v", rep.Status, rep.ErrorSamples)
		}
	})

	t.Run("with the default slack a busy pool drops instead of delaying the schedule", func(t *testing.T) {
		rep, err := Run(context.Background(), Config{Schedule: sched, MaxInFlight: 2}, testGenerator("d"), target)
		if err != nil {
			t.Fatal(err)
		}
		checkCounts(t, rep, sched.Total())
		t.Logf("latency %+v\nservice %+v\ndropped %d status %v", rep.Latency, rep.Service, rep.Dropped, rep.Status)
		if rep.Dropped < sched.Total()/4 {
			t.Errorf("dropped %d of %d at twice the capacity, want about half", rep.Dropped, sched.Total())
		}
		// Nothing waits: the schedule ends on time, plus the last answers.
		if rep.DurationS > sched.Duration().Seconds()+1 {
			t.Errorf("run took %.2fs for a %v schedule", rep.DurationS, sched.Duration())
		}
	})
}

func TestRunWithinCapacity(t *testing.T) {
	srv := slowServer(t, 64, time.Millisecond)
	target := NewHTTPTarget(HTTPConfig{BaseURL: srv.URL, MaxInFlight: 32})
	defer target.Close()
	sched, err := ParseStages("500ms:100,500ms:300")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), Config{Schedule: sched, MaxInFlight: 32}, testGenerator("w"), target)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, rep, 200)
	if rep.Rate != 200 {
		t.Errorf("offered rate %v, want 200/s", rep.Rate)
	}
	if rep.Status["200"]+rep.Dropped != 200 || rep.Errors != 0 {
		t.Errorf("status %v, dropped %d, errors %v", rep.Status, rep.Dropped, rep.ErrorSamples)
	}
	// The server declines what the generator labels large or failed:
	// detection stats come from labelled 200 answers.
	d := rep.Detection
	if d.TP+d.FP+d.FN+d.TN != rep.Status["200"] {
		t.Errorf("detection counts %+v, want one per 200 answer (%d)", d, rep.Status["200"])
	}
	if d.TP == 0 || d.Precision <= 0 || d.Recall <= 0 {
		t.Errorf("detection %+v: want true positives from labelled fraud", d)
	}
}

func TestRunCountsStatusesAndErrors(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch n.Add(1) % 4 {
		case 0:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		case 1:
			// an answer that quotes a card number must not reach the samples
			http.Error(w, "bad card 4111 1111 1111 1111", http.StatusBadRequest)
		default:
			w.Write([]byte(`{"decision":"approve"}`))
		}
	}))
	defer srv.Close()
	target := NewHTTPTarget(HTTPConfig{BaseURL: srv.URL})
	defer target.Close()
	sched := Schedule{{time.Second, 100}}
	rep, err := Run(context.Background(), Config{Schedule: sched, MaxInFlight: 16}, testGenerator("s"), target)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, rep, 100)
	if rep.Shed != rep.Status["503"] || rep.Shed == 0 {
		t.Errorf("shed %d, want the 503 count %d > 0", rep.Shed, rep.Status["503"])
	}
	if rep.Errors != rep.Status["400"] || rep.Errors == 0 {
		t.Errorf("errors %d, want the 400 count %d > 0 (503 is shed, not an error)", rep.Errors, rep.Status["400"])
	}
	if got, want := rep.ErrorRate, float64(rep.Errors)/float64(rep.Sent); got != want {
		t.Errorf("error rate %v, want %v", got, want)
	}
	if len(rep.ErrorSamples) == 0 || len(rep.ErrorSamples) > 5 {
		t.Errorf("error samples %q, want 1..5", rep.ErrorSamples)
	}
	for _, s := range rep.ErrorSamples {
		if strings.Contains(s, "4111") {
			t.Errorf("error sample %q carries a card number", s)
		}
	}

	t.Run("thresholds", func(t *testing.T) {
		if err := rep.Check(Thresholds{MaxErrorRate: 1}); err != nil {
			t.Errorf("no thresholds: %v", err)
		}
		if err := rep.Check(Thresholds{}); err == nil {
			t.Errorf("error rate %.3f passed --max-error-rate 0", rep.ErrorRate)
		}
		if err := rep.Check(Thresholds{MaxErrorRate: 0.01}); err == nil {
			t.Errorf("error rate %.3f passed --max-error-rate 0.01", rep.ErrorRate)
		}
		if err := rep.Check(Thresholds{MaxErrorRate: 0.9, MaxP99: time.Hour}); err != nil {
			t.Errorf("generous thresholds: %v", err)
		}
		if err := rep.Check(Thresholds{MaxP99: time.Nanosecond}); err == nil {
			t.Errorf("p99 %s passed --max-p99 1ns", fmtMs(rep.Latency.P99))
		}
	})
}

func TestRunSummarisesEachStage(t *testing.T) {
	// Every 4th answer is shed and every 4th a client error, and one
	// worker of a slow server is too few for the second stage: it drops.
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch n.Add(1) % 4 {
		case 0:
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		case 1:
			http.Error(w, "bad", http.StatusBadRequest)
		default:
			time.Sleep(5 * time.Millisecond)
			w.Write([]byte(`{"decision":"approve"}`))
		}
	}))
	defer srv.Close()
	target := NewHTTPTarget(HTTPConfig{BaseURL: srv.URL})
	defer target.Close()
	sched, err := ParseStagesOf("400ms:0.5x,400ms:4x,400ms:0.5x", 100)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), Config{Schedule: sched, MaxInFlight: 1, Capacity: 100}, testGenerator("st"), target)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, rep, sched.Total())
	if len(rep.Stages) != len(sched) {
		t.Fatalf("%d stage summaries, want %d: %+v", len(rep.Stages), len(sched), rep.Stages)
	}
	for i, s := range rep.Stages {
		st := sched[i]
		if s.Requests != st.count() || s.Rate != st.Rate || s.DurationS != st.Duration.Seconds() {
			t.Errorf("stage %d: %d requests at %v/s for %vs, want %d at %v/s for %v",
				s.Stage, s.Requests, s.Rate, s.DurationS, st.count(), st.Rate, st.Duration)
		}
		if want := st.Rate / 100; s.RateX != want {
			t.Errorf("stage %d: rate_x %v, want %v", s.Stage, s.RateX, want)
		}
		if want := float64(s.OK) / st.Duration.Seconds(); s.Goodput != want {
			t.Errorf("stage %d: goodput %v, want ok/duration %v", s.Stage, s.Goodput, want)
		}
		if want := 100 * float64(s.Shed) / float64(s.Requests); s.ShedPct != want {
			t.Errorf("stage %d: shed %v%%, want %v%%", s.Stage, s.ShedPct, want)
		}
	}
	if rep.Shed == 0 || rep.Errors == 0 {
		t.Errorf("shed %d, errors %d: the server answers both", rep.Shed, rep.Errors)
	}

	t.Run("the text summary has a row per stage", func(t *testing.T) {
		var b strings.Builder
		if err := rep.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, want := range []string{"admitted latency p50", "stages (by due time", "goodput", "0.5x", "4x"} {
			if !strings.Contains(out, want) {
				t.Errorf("text summary lacks %q:\n%s", want, out)
			}
		}
	})
}

func TestRunTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more
	target := NewHTTPTarget(HTTPConfig{BaseURL: url, Timeout: time.Second})
	defer target.Close()
	rep, err := Run(context.Background(), Config{Schedule: Schedule{{200 * time.Millisecond, 50}}, MaxInFlight: 4}, testGenerator("e"), target)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, rep, 10)
	if rep.Status["error"] == 0 || rep.Errors != rep.Status["error"] || rep.ErrorRate != 1 {
		t.Errorf("status %v, errors %d, rate %v: want every send a transport error", rep.Status, rep.Errors, rep.ErrorRate)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	srv := slowServer(t, 8, time.Millisecond)
	target := NewHTTPTarget(HTTPConfig{BaseURL: srv.URL})
	defer target.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	sched := Schedule{{time.Minute, 100}}
	rep, err := Run(ctx, Config{Schedule: sched, MaxInFlight: 8}, testGenerator("c"), target)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Interrupted || rep.Requests >= sched.Total() || rep.Requests == 0 {
		t.Fatalf("interrupted %v after %d of %d requests", rep.Interrupted, rep.Requests, sched.Total())
	}
	checkCounts(t, rep, rep.Requests)
}

func TestHTMLReportIsSelfContained(t *testing.T) {
	srv := slowServer(t, 4, 2*time.Millisecond)
	target := NewHTTPTarget(HTTPConfig{BaseURL: srv.URL})
	defer target.Close()
	rep, err := Run(context.Background(), Config{Schedule: Schedule{{1500 * time.Millisecond, 100}}, MaxInFlight: 16}, testGenerator("h"), target)
	if err != nil {
		t.Fatal(err)
	}
	rep.Target = srv.URL + "/score"
	path := t.TempDir() + "/report.html"
	if err := rep.WriteFile(path, true); err != nil {
		t.Fatal(err)
	}
	b, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{"<!DOCTYPE html>", "<svg", "<polyline", "Latency over time", "percentile curve"} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if strings.Count(page, "<polyline") < 3 {
		t.Errorf("want p50, p99 and percentile lines, got %d polylines", strings.Count(page, "<polyline"))
	}
	external := regexp.MustCompile(`(?i)(src|href|url)\s*[=(]\s*["']?\s*(https?:)?//`)
	if m := external.FindString(page); m != "" {
		t.Errorf("report.html loads from elsewhere: %q", m)
	}
	if strings.Contains(page, "<script src") || strings.Contains(page, "<link") {
		t.Error("report.html references external scripts or stylesheets")
	}

	t.Run("the JSON report has the documented keys", func(t *testing.T) {
		path := t.TempDir() + "/report.json"
		if err := rep.WriteFile(path, false); err != nil {
			t.Fatal(err)
		}
		b, err := readFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"requests", "rate", "throughput", "duration_s", "dropped", "status", "latency_ms", "ok_latency_ms", "service_ms", "detection", "shed"} {
			if _, ok := m[k]; !ok {
				t.Errorf("report.json lacks %q", k)
			}
		}
		for _, k := range []string{"p50", "p90", "p99", "p999", "max", "mean"} {
			if _, ok := m["latency_ms"].(map[string]any)[k]; !ok {
				t.Errorf("latency_ms lacks %q", k)
			}
		}
		for _, k := range []string{"tp", "fp", "fn", "precision", "recall"} {
			if _, ok := m["detection"].(map[string]any)[k]; !ok {
				t.Errorf("detection lacks %q", k)
			}
		}
	})
}

func TestHTMLReportShowsStagesAndCapacity(t *testing.T) {
	// A report of three stages, built from synthetic answers: 10 a second,
	// the middle stage shedding half.
	t0 := time.Unix(1_700_000_000, 0)
	sched, err := ParseStagesOf("2s:0.5x,2s:2x,2s:0.5x", 10)
	if err != nil {
		t.Fatal(err)
	}
	r := newRecorder(t0, sched)
	for i := range sched.Total() {
		off, stage, _ := sched.due(i)
		ev := &Event{Due: t0.Add(off), stage: stage}
		out := Outcome{Status: "200", OK: true}
		if stage == 1 && i%2 == 0 {
			out = Outcome{Status: "503"}
		}
		r.record(ev, ev.Due, ev.Due.Add(5*time.Millisecond), out)
	}
	rep := r.report(sched.Total(), sched.Rate(), 0)
	rep.setNominalCapacity(10)
	cfg := CapacityConfig{MaxP99: 10 * time.Millisecond, StepDuration: time.Second, Settle: -1}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	fake := fakeStep{capacity: 1000}
	c, err := search(context.Background(), cfg, fake.run)
	if err != nil {
		t.Fatal(err)
	}
	rep.Capacity = c

	var b strings.Builder
	if err := rep.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	tests := []struct {
		name, want string
		count      int // at least this many
	}{
		{"the capacity search answers first", "Capacity search", 1},
		{"its curve is a table row per step", "<td>bisect</td>", 1},
		{"and two charts against the offered rate", "against the offered rate", 2},
		{"with a point per step", "<circle", 2 * len(c.Steps)},
		{"and the latency budget drawn", `class="budget"`, 1},
		{"the stages get a table", "<h2>Stages</h2>", 1},
		{"goodput and sheds over time", "Goodput and sheds over time", 1},
		{"admitted p99 over time", "Admitted latency over time", 1},
		{"stage boundaries marked on the three time charts", `class="mark"`, 3 * 2},
		{"labelled with the stage's multiple", ">2x</text>", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Count(page, tt.want); got < tt.count {
				t.Errorf("report.html has %q %d times, want at least %d", tt.want, got, tt.count)
			}
		})
	}
	t.Run("a single stage has no boundary to mark", func(t *testing.T) {
		one := *rep
		one.Stages, one.Capacity = one.Stages[:1], nil
		var b strings.Builder
		if err := one.WriteHTML(&b); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), `class="mark"`) || strings.Contains(b.String(), "<h2>Stages</h2>") {
			t.Error("a one-stage report marks stage boundaries")
		}
	})
	t.Run("the page stays self-contained", func(t *testing.T) {
		external := regexp.MustCompile(`(?i)(src|href|url)\s*[=(]\s*["']?\s*(https?:)?//|<script|<link`)
		if m := external.FindString(page); m != "" {
			t.Errorf("report.html loads from elsewhere: %q", m)
		}
	})
}
