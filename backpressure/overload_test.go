package backpressure

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The synthetic service: 4 workers, 5ms of work each, so about 800 req/s.
const (
	workers    = 4
	workCost   = 5 * time.Millisecond
	capacity   = float64(workers) * float64(time.Second) / float64(workCost)
	clientMs   = 200 // X-Timeout-Ms of every request
	latencyCap = clientMs*time.Millisecond + 50*time.Millisecond
)

// TestOverload drives a real server open-loop at 0.8x and then 3x its
// capacity and checks that admission control keeps goodput up, answers
// admitted requests inside their budget, and sheds with a proper 503.
//
// It measures ratios on a loaded machine, so it is skipped with -short and
// under the race detector (which slows the client and server several fold);
// run it with: go test -run Overload ./backpressure
func TestOverload(t *testing.T) {
	if testing.Short() {
		t.Skip("drives 5s of load; skipped with -short")
	}
	if raceEnabled {
		t.Skip("timing-sensitive; run without -race: go test -run Overload ./backpressure")
	}
	l := New(Options{})
	srv := httptest.NewServer(l.Middleware(clientMs * time.Millisecond)(newWorkHandler(workers, workCost)))
	defer srv.Close()

	low := offer(t, srv.URL, 0.8*capacity, 2*time.Second)
	statsLow := l.Stats()
	high := offer(t, srv.URL, 3*capacity, 3*time.Second)
	statsHigh := l.Stats()

	for _, r := range []*loadResult{low, high} {
		t.Logf("%s", r)
		for _, p := range r.problems[:min(len(r.problems), 10)] {
			t.Errorf("at %.0f req/s: %s", r.rate, p)
		}
	}
	t.Logf("limiter after 0.8x: %+v", statsLow)
	t.Logf("limiter after 3x:   %+v", statsHigh)

	ratio := high.goodput() / low.goodput()
	t.Logf("goodput at 3x / goodput at 0.8x = %.2f; shed share at 3x %.0f%%", ratio, 100*high.shedShare())
	if ratio < 0.7 {
		t.Errorf("goodput at 3x load = %.0f/s, %.2f of the %.0f/s at 0.8x; want >= 0.7", high.goodput(), ratio, low.goodput())
	}
	if high.shed == 0 {
		t.Errorf("nothing shed at 3x capacity")
	}

	if os.Getenv("BACKPRESSURE_BASELINE") != "" {
		bare := httptest.NewServer(newWorkHandler(workers, workCost))
		defer bare.Close()
		b := offer(t, bare.URL, 3*capacity, 3*time.Second)
		t.Logf("baseline without admission control: %s", b)
		t.Logf("baseline goodput at 3x / limiter goodput at 0.8x = %.2f", b.goodput()/low.goodput())
	}
}

// newWorkHandler is a stand-in for the scoring handler: it takes its budget
// as api does, waits for one of n workers, holds it for cost, and answers
// 200. When its budget ends first it answers 200 with X-Degraded (the
// rules-only fallback), in time but without the model's work.
func newWorkHandler(n int, cost time.Duration) http.Handler {
	sem := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		budget := 2 * time.Second
		if v := r.Header.Get("X-Timeout-Ms"); v != "" {
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil || ms < 1 {
				http.Error(w, "bad X-Timeout-Ms", http.StatusBadRequest)
				return
			}
			budget = min(budget, time.Duration(ms)*time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(r.Context(), budget)
		defer cancel()
		io.Copy(io.Discard, r.Body)
		answer := func(degraded bool) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Degraded", strconv.FormatBool(degraded))
			fmt.Fprintf(w, `{"degraded":%t}`, degraded)
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			answer(true)
			return
		}
		work := time.NewTimer(cost)
		select {
		case <-work.C:
			<-sem
			answer(false)
		case <-ctx.Done():
			work.Stop()
			<-sem
			answer(true)
		}
	})
}

type loadResult struct {
	rate      float64
	elapsed   time.Duration
	sent      int // requests offered and sent
	missed    int // offered while every client was busy: not sent
	good      int // 200, not degraded
	degraded  int // 200 from the fallback
	shed      int // 503 from admission control
	latencies []time.Duration
	problems  []string
}

func (r *loadResult) goodput() float64 { return float64(r.good) / r.elapsed.Seconds() }
func (r *loadResult) shedShare() float64 {
	if r.sent == 0 {
		return 0
	}
	return float64(r.shed) / float64(r.sent)
}

func (r *loadResult) String() string {
	slices.Sort(r.latencies)
	pct := func(p float64) time.Duration {
		if len(r.latencies) == 0 {
			return 0
		}
		return r.latencies[int(p*float64(len(r.latencies)-1))].Round(100 * time.Microsecond)
	}
	return fmt.Sprintf("offered %.0f/s for %v: sent %d, not sent %d, goodput %.0f/s (%d ok, %d degraded), shed %d (%.0f%%); 200 latency p50 %v p99 %v max %v",
		r.rate, r.elapsed.Round(time.Millisecond), r.sent, r.missed, r.goodput(), r.good, r.degraded,
		r.shed, 100*r.shedShare(), pct(0.5), pct(0.99), pct(1))
}

// offer sends rate requests a second for d, open loop: a pacer hands each
// request to an idle client goroutine, or counts it as not sent when all
// are busy, so a slow server does not slow the offered load.
func offer(t *testing.T, url string, rate float64, d time.Duration) *loadResult {
	t.Helper()
	const clients = 256
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}

	res := &loadResult{rate: rate}
	var mu sync.Mutex
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range jobs {
				one(client, url, res, &mu)
			}
		})
	}
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	for now := start; now.Sub(start) < d; now = <-tick.C {
		due := int(now.Sub(start).Seconds() * rate)
		for res.sent+res.missed < due {
			select {
			case jobs <- struct{}{}:
				res.sent++
			default:
				res.missed++
			}
		}
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

func one(client *http.Client, url string, res *loadResult, mu *sync.Mutex) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"transaction_id":"t1"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Timeout-Ms", strconv.Itoa(clientMs))
	begin := time.Now()
	resp, err := client.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	lat := time.Since(begin)

	mu.Lock()
	defer mu.Unlock()
	switch {
	case err != nil:
		res.problems = append(res.problems, "request failed: "+err.Error())
	case resp.StatusCode == http.StatusOK:
		res.latencies = append(res.latencies, lat)
		if lat > latencyCap {
			res.problems = append(res.problems, fmt.Sprintf("200 after %v, over the %dms budget + 50ms", lat, clientMs))
		}
		if resp.Header.Get("X-Degraded") == "true" {
			res.degraded++
		} else {
			res.good++
		}
	case resp.StatusCode == http.StatusServiceUnavailable:
		res.shed++
		if p := checkShed(resp, body); p != "" {
			res.problems = append(res.problems, p)
		}
	default:
		res.problems = append(res.problems, fmt.Sprintf("status %d: %s", resp.StatusCode, body))
	}
}

// checkShed describes what is wrong with a 503, or returns "".
func checkShed(resp *http.Response, body []byte) string {
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
		return fmt.Sprintf("503 with Retry-After %q, want whole seconds >= 1", resp.Header.Get("Retry-After"))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		return fmt.Sprintf("503 with Content-Type %q, want application/problem+json", ct)
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		return fmt.Sprintf("503 body %q: %v", body, err)
	}
	for _, k := range []string{"type", "title", "status", "detail"} {
		if _, ok := p[k]; !ok {
			return fmt.Sprintf("503 body %s has no %q", body, k)
		}
	}
	if p["status"] != float64(http.StatusServiceUnavailable) {
		return fmt.Sprintf("503 body %s: status is not 503", body)
	}
	return ""
}
