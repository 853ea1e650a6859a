package model

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
	"github.com/sony/gobreaker/v2"
)

// okBody is the fake model server's usual answer.
const okBody = `{"model_name":"fraud-gbm","model_version":"7","id":"tx-1",
 "outputs":[{"name":"probability","shape":[1,1],"datatype":"FP32","data":[0.25]}]}`

// kserve is a fake Open Inference Protocol model server on a real loopback
// listener. It counts the requests it receives and answers each with the
// status and body last given to answer.
type kserve struct {
	srv      *httptest.Server
	requests atomic.Int64

	mu       sync.Mutex
	status   int
	body     string
	lastReq  *http.Request
	lastBody []byte
}

func newKServe(t *testing.T) *kserve {
	t.Helper()
	k := &kserve{status: http.StatusOK, body: okBody}
	k.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.requests.Add(1)
		body, _ := io.ReadAll(r.Body)
		k.mu.Lock()
		k.lastReq, k.lastBody = r, body
		status, answer := k.status, k.body
		k.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(k.srv.Close)
	return k
}

func (k *kserve) answer(status int, body string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.status, k.body = status, body
}

func (k *kserve) last() (*http.Request, []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lastReq, k.lastBody
}

// faultProxy starts an in-process toxiproxy TCP proxy on 127.0.0.1 in
// front of k: faults are toxics on it, or the proxy disabled.
func faultProxy(t *testing.T, k *kserve) *toxiproxy.Proxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "kserve", "127.0.0.1:0", k.srv.Listener.Addr().String())
	if err := p.Start(); err != nil {
		t.Fatalf("start toxiproxy: %v", err)
	}
	t.Cleanup(p.Stop)
	return p
}

// addToxic adds a toxic given as in toxiproxy's HTTP API, e.g.
// {"type":"latency","attributes":{"latency":1000}} (downstream by default).
func addToxic(t *testing.T, p *toxiproxy.Proxy, spec string) {
	t.Helper()
	if _, err := p.Toxics.AddToxicJson(strings.NewReader(spec)); err != nil {
		t.Fatalf("add toxic %s: %v", spec, err)
	}
}

// newTestRemote returns a Remote for the model "fraud" behind addr
// (host:port), with a small OpenFor.
func newTestRemote(t *testing.T, addr string, o RemoteOptions) *Remote {
	t.Helper()
	o.URL = "http://" + addr + "/v2/models/fraud"
	o.Logger = slog.New(slog.DiscardHandler)
	if o.OpenFor == 0 {
		o.OpenFor = 200 * time.Millisecond
	}
	r, err := NewRemote(o)
	if err != nil {
		t.Fatalf("NewRemote: %v", err)
	}
	t.Cleanup(r.client.CloseIdleConnections)
	return r
}

func withTimeout(t *testing.T, d time.Duration) (context.Context, time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	deadline, _ := ctx.Deadline()
	return ctx, deadline
}

// deadlineSlack is how late after its deadline an answer may come in these
// tests: scheduling noise under -race on a small machine, not a budget.
const deadlineSlack = 30 * time.Millisecond

func TestRemoteHappyPath(t *testing.T) {
	k := newKServe(t)
	p := faultProxy(t, k)
	r := newTestRemote(t, p.Listen, RemoteOptions{})
	if got, want := r.Version(), "remote:"+p.Listen; got != want {
		t.Errorf("version before any answer = %q, want %q", got, want)
	}
	in := input(2000, vel{n1m: 1, n5m: 2, n1h: 3, n24h: 4, sum1h: 5, sum24h: 6, failed10m: 7, merchants1h: 8, sincePrev: -1})
	ctx, _ := withTimeout(t, 2*time.Second)

	pred, err := r.Predict(ctx, in)
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	if pred.Score != 0.25 || pred.Degraded || len(pred.Contributions) != 0 || pred.NumReasons != 0 {
		t.Errorf("prediction = %+v, want score 0.25 without reasons", pred)
	}
	if got, want := r.Version(), "remote:fraud-gbm/7"; got != want {
		t.Errorf("version = %q, want %q", got, want)
	}

	req, body := k.last()
	if req.Method != http.MethodPost || req.URL.Path != "/v2/models/fraud/infer" || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s %s (%s), want POST /v2/models/fraud/infer (application/json)", req.Method, req.URL.Path, req.Header.Get("Content-Type"))
	}
	var got struct {
		ID     string `json:"id"`
		Inputs []struct {
			Name     string    `json:"name"`
			Shape    []int     `json:"shape"`
			Datatype string    `json:"datatype"`
			Data     []float64 `json:"data"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("request body %s: %v", body, err)
	}
	if got.ID != "tx-1" || len(got.Inputs) != 1 {
		t.Fatalf("request body %s, want id tx-1 and one input", body)
	}
	tensor := got.Inputs[0]
	wantData := []float64{1, 2, 3, 4, 5, 6, 7, 8, -1, 2000} // DefaultRemoteFeatures order
	if tensor.Name != "features" || !slices.Equal(tensor.Shape, []int{1, 10}) || tensor.Datatype != "FP64" || !slices.Equal(tensor.Data, wantData) {
		t.Errorf("input %+v, want features [1 10] FP64 %v", tensor, wantData)
	}

	t.Run("engine answers with the remote score and version", func(t *testing.T) {
		e := NewEngine(defaultRules(t), WithFallback(r, DefaultLogistic()), Options{})
		out := e.Score(ctx, input(2000, quiet(2000)))
		if out.Degraded || out.Cause != nil || out.Score != 0.25 || out.ModelVersion != "remote:fraud-gbm/7" {
			t.Errorf("got %+v, want the remote's 0.25 from remote:fraud-gbm/7, not degraded", out)
		}
	})
}

func TestRemoteFeatureOrderIsConfigured(t *testing.T) {
	k := newKServe(t)
	r := newTestRemote(t, k.srv.Listener.Addr().String(), RemoteOptions{Features: []string{"amount", "card_failed_count_10m", "not_a_feature"}})
	ctx, _ := withTimeout(t, 2*time.Second)
	if _, err := r.Predict(ctx, input(1500, vel{failed10m: 4})); err != nil {
		t.Fatalf("Predict: %v", err)
	}
	_, body := k.last()
	if want := `"shape":[1,3],"datatype":"FP64","data":[1500,4,0]`; !strings.Contains(string(body), want) {
		t.Errorf("request body %s does not contain %s (a missing feature is sent as 0)", body, want)
	}
	if err := r.CheckVariables(known); err == nil || !strings.Contains(err.Error(), "not_a_feature") {
		t.Errorf("CheckVariables = %v, want an error naming not_a_feature", err)
	}
}

func TestNewRemoteErrors(t *testing.T) {
	tests := []struct {
		name string
		give RemoteOptions
	}{
		{"no URL", RemoteOptions{}},
		{"relative URL", RemoteOptions{URL: "/v2/models/fraud"}},
		{"not http", RemoteOptions{URL: "grpc://models:8081"}},
		{"no features", RemoteOptions{URL: "http://models", Features: []string{}}},
		{"duplicate feature", RemoteOptions{URL: "http://models", Features: []string{"amount", "amount"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewRemote(tt.give); err == nil {
				t.Error("NewRemote succeeded, want an error")
			}
		})
	}
}

func TestRemoteResponses(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		wantScore float64 // when wantErr is false
		wantErr   bool
	}{
		{"FP32 of shape [1,1]", 200, okBody, 0.25, false},
		{"FP64 of shape [1]", 200, `{"outputs":[{"name":"p","shape":[1],"datatype":"FP64","data":[0.9]}]}`, 0.9, false},
		{"nested data", 200, `{"outputs":[{"name":"p","shape":[1,1],"datatype":"FP64","data":[[0.5]]}]}`, 0.5, false},
		{"first output's first value", 200, `{"outputs":[{"name":"p","shape":[1,2],"datatype":"FP64","data":[1,0]},{"name":"q","shape":[1],"datatype":"FP64","data":[0]}]}`, 1, false},
		{"status 500", 500, `{"error":"boom"}`, 0, true},
		{"status 404", 404, `{"error":"model fraud not found"}`, 0, true},
		{"invalid JSON", 200, `{"outputs":[`, 0, true},
		{"score 1.7", 200, `{"outputs":[{"name":"p","shape":[1,1],"datatype":"FP64","data":[1.7]}]}`, 0, true},
		{"negative score", 200, `{"outputs":[{"name":"p","shape":[1,1],"datatype":"FP64","data":[-0.1]}]}`, 0, true},
		{"NaN literal", 200, `{"outputs":[{"name":"p","shape":[1,1],"datatype":"FP64","data":[NaN]}]}`, 0, true},
		{"NaN string", 200, `{"outputs":[{"name":"p","shape":[1,1],"datatype":"FP64","data":["NaN"]}]}`, 0, true},
		{"overflowing number", 200, `{"outputs":[{"name":"p","shape":[1,1],"datatype":"FP64","data":[1e999]}]}`, 0, true},
		{"no outputs", 200, `{"model_name":"fraud","outputs":[]}`, 0, true},
		{"empty data", 200, `{"outputs":[{"name":"p","shape":[1,0],"datatype":"FP64","data":[]}]}`, 0, true},
		{"integer datatype", 200, `{"outputs":[{"name":"p","shape":[1,1],"datatype":"INT64","data":[1]}]}`, 0, true},
		{"body over 1 MiB", 200, `{"pad":"` + strings.Repeat("x", MaxRemoteBody) + `"}`, 0, true},
	}
	k := newKServe(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k.answer(tt.status, tt.body)
			r := newTestRemote(t, k.srv.Listener.Addr().String(), RemoteOptions{})
			ctx, _ := withTimeout(t, 2*time.Second)
			pred, err := r.Predict(ctx, input(2000, quiet(2000)))
			c := r.Counts()
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Predict = %+v, want an error", pred)
				}
				if c.TotalFailures != 1 || c.ConsecutiveFailures != 1 {
					t.Errorf("breaker counts %+v, want 1 failure", c)
				}
				return
			}
			if err != nil || pred.Score != tt.wantScore {
				t.Fatalf("Predict = %v, %v; want %v", pred.Score, err, tt.wantScore)
			}
			if c.TotalSuccesses != 1 || c.TotalFailures != 0 {
				t.Errorf("breaker counts %+v, want 1 success", c)
			}
		})
	}
}

func TestRemoteNonFiniteFeatureIsNotSent(t *testing.T) {
	k := newKServe(t)
	r := newTestRemote(t, k.srv.Listener.Addr().String(), RemoteOptions{})
	in := input(2000, quiet(2000))
	in.Features[0].Value = math.Inf(1)
	if _, err := r.Predict(context.Background(), in); err == nil {
		t.Fatal("Predict succeeded, want an error")
	}
	if n, c := k.requests.Load(), r.Counts(); n != 0 || c.Requests != 0 {
		t.Errorf("%d requests at the server, breaker counts %+v; want none", n, c)
	}
}

// TestRemoteSlowModel runs the engine with the remote model behind a
// latency toxic: within the budget the remote answers; beyond it the
// answer is the local fallback's, degraded, and comes before the deadline.
func TestRemoteSlowModel(t *testing.T) {
	tests := []struct {
		name         string
		latencyMs    int
		budget       time.Duration
		wantDegraded bool
	}{
		{"latency within the budget is served by the remote", 50, time.Second, false},
		{"latency beyond the budget is answered by the fallback in time", 1500, 300 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKServe(t)
			p := faultProxy(t, k)
			addToxic(t, p, `{"type":"latency","attributes":{"latency":`+itoa(tt.latencyMs)+`}}`)
			r := newTestRemote(t, p.Listen, RemoteOptions{})
			local := DefaultLogistic()
			e := NewEngine(defaultRules(t), WithFallback(r, local), Options{})
			ctx, deadline := withTimeout(t, tt.budget)

			out := e.Score(ctx, input(2000, quiet(2000)))
			late := time.Since(deadline)

			t.Logf("answered %v before the %v deadline", -late, tt.budget)
			if late > deadlineSlack {
				t.Errorf("answer came %v after the deadline, want before it (slack %v)", late, deadlineSlack)
			}
			if out.Degraded != tt.wantDegraded {
				t.Fatalf("degraded = %v (cause %v), want %v", out.Degraded, out.Cause, tt.wantDegraded)
			}
			if !tt.wantDegraded {
				if out.ModelVersion != "remote:fraud-gbm/7" || out.Score != 0.25 {
					t.Errorf("got %q %v, want the remote's 0.25", out.ModelVersion, out.Score)
				}
				return
			}
			if out.ModelVersion != local.Version() || !errors.Is(out.Cause, context.DeadlineExceeded) {
				t.Errorf("got version %q cause %v, want the local %q after DeadlineExceeded", out.ModelVersion, out.Cause, local.Version())
			}
			if c := r.Counts(); c.TotalFailures != 1 {
				t.Errorf("breaker counts %+v, want the deadline counted as 1 failure", c)
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestRemoteModelDown injects network faults between the remote client and
// the model server; each answer is the local fallback's, degraded, before
// the deadline.
func TestRemoteModelDown(t *testing.T) {
	tests := []struct {
		name  string
		fault func(t *testing.T, p *toxiproxy.Proxy)
	}{
		{"proxy disabled: connection refused", func(t *testing.T, p *toxiproxy.Proxy) { p.Stop() }},
		{"connection reset by peer", func(t *testing.T, p *toxiproxy.Proxy) {
			addToxic(t, p, `{"type":"reset_peer","stream":"upstream","attributes":{"timeout":0}}`)
		}},
		{"black hole: no data, connection kept open", func(t *testing.T, p *toxiproxy.Proxy) {
			addToxic(t, p, `{"type":"timeout","attributes":{"timeout":0}}`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKServe(t)
			p := faultProxy(t, k)
			r := newTestRemote(t, p.Listen, RemoteOptions{})
			local := DefaultLogistic()
			e := NewEngine(defaultRules(t), WithFallback(r, local), Options{})
			tt.fault(t, p)
			ctx, deadline := withTimeout(t, 300*time.Millisecond)

			out := e.Score(ctx, input(2000, quiet(2000)))

			late := time.Since(deadline)
			t.Logf("answered %v before the deadline", -late)
			if late > deadlineSlack {
				t.Errorf("answer came %v after the deadline, want before it", late)
			}
			if !out.Degraded || out.Cause == nil || out.ModelVersion != local.Version() {
				t.Errorf("got degraded %v cause %v version %q, want the local %q, degraded", out.Degraded, out.Cause, out.ModelVersion, local.Version())
			}
			if c := r.Counts(); c.TotalFailures != 1 {
				t.Errorf("breaker counts %+v, want 1 failure", c)
			}
		})
	}
}

// TestRemoteBreaker opens the breaker with a fault, shows that calls then
// fail at once without reaching the (recovered) server, and that after
// OpenFor one trial call closes it again.
func TestRemoteBreaker(t *testing.T) {
	tests := []struct {
		name    string
		fault   func(t *testing.T, k *kserve, p *toxiproxy.Proxy)
		recover func(t *testing.T, k *kserve, p *toxiproxy.Proxy)
	}{
		{
			name:  "model server down",
			fault: func(t *testing.T, k *kserve, p *toxiproxy.Proxy) { p.Stop() },
			recover: func(t *testing.T, k *kserve, p *toxiproxy.Proxy) {
				if err := p.Start(); err != nil {
					t.Fatalf("restart toxiproxy: %v", err)
				}
			},
		},
		{
			name:    "model server answers 500",
			fault:   func(t *testing.T, k *kserve, p *toxiproxy.Proxy) { k.answer(500, `{"error":"boom"}`) },
			recover: func(t *testing.T, k *kserve, p *toxiproxy.Proxy) { k.answer(200, okBody) },
		},
	}
	const threshold = 3
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKServe(t)
			p := faultProxy(t, k)
			r := newTestRemote(t, p.Listen, RemoteOptions{FailureThreshold: threshold, OpenFor: 200 * time.Millisecond})
			ctx, _ := withTimeout(t, 4*time.Second)
			in := input(2000, quiet(2000))

			tt.fault(t, k, p)
			for i := range threshold {
				if got := r.BreakerState(); got != "closed" {
					t.Fatalf("breaker %s after %d failures, want closed", got, i)
				}
				if _, err := r.Predict(ctx, in); err == nil {
					t.Fatalf("call %d succeeded, want a failure", i)
				}
			}
			if got := r.BreakerState(); got != "open" {
				t.Fatalf("breaker %s after %d failures, want open", got, threshold)
			}

			tt.recover(t, k, p)
			before := k.requests.Load()
			e := NewEngine(defaultRules(t), WithFallback(r, DefaultLogistic()), Options{})
			for range 5 {
				if _, err := r.Predict(ctx, in); !errors.Is(err, gobreaker.ErrOpenState) {
					t.Fatalf("Predict while open = %v, want gobreaker.ErrOpenState", err)
				}
				if out := e.Score(ctx, in); !out.Degraded || !errors.Is(out.Cause, gobreaker.ErrOpenState) {
					t.Fatalf("Score while open: degraded %v cause %v, want degraded by the open breaker", out.Degraded, out.Cause)
				}
			}
			if n := k.requests.Load() - before; n != 0 {
				t.Fatalf("the open breaker let %d requests reach the server, want 0", n)
			}

			waitBreaker(t, r, "half-open") // once OpenFor has passed
			if out := e.Score(ctx, in); out.Degraded || out.ModelVersion != "remote:fraud-gbm/7" {
				t.Fatalf("trial call: degraded %v cause %v version %q, want the remote's answer", out.Degraded, out.Cause, out.ModelVersion)
			}
			if got := r.BreakerState(); got != "closed" {
				t.Errorf("breaker %s after a successful trial, want closed", got)
			}
			if n := k.requests.Load() - before; n != 1 {
				t.Errorf("%d requests reached the server, want the 1 trial", n)
			}
		})
	}
}

// waitBreaker polls r's breaker until it is in state, for at most 10 s.
func waitBreaker(t *testing.T, r *Remote, state string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); r.BreakerState() != state; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("breaker %s after 10 s, want %s", r.BreakerState(), state)
		}
	}
}

func TestRemoteBreakerFailedTrialReopens(t *testing.T) {
	k := newKServe(t)
	k.answer(500, `{"error":"boom"}`)
	r := newTestRemote(t, k.srv.Listener.Addr().String(), RemoteOptions{FailureThreshold: 1, OpenFor: 100 * time.Millisecond})
	ctx, _ := withTimeout(t, 4*time.Second)
	in := input(2000, quiet(2000))
	r.Predict(ctx, in)
	waitBreaker(t, r, "half-open") // once OpenFor has passed
	if _, err := r.Predict(ctx, in); err == nil || errors.Is(err, gobreaker.ErrOpenState) {
		t.Fatalf("trial call = %v, want the server's failure", err)
	}
	if got := r.BreakerState(); got != "open" {
		t.Errorf("breaker %s after a failed trial, want open", got)
	}
	if n := k.requests.Load(); n != 2 {
		t.Errorf("%d requests at the server, want 2", n)
	}
}

// TestRemoteCallerCancelIsNotAFailure cancels calls in flight to a slow
// server: the caller gave up, the server did not fail.
func TestRemoteCallerCancelIsNotAFailure(t *testing.T) {
	k := newKServe(t)
	p := faultProxy(t, k)
	addToxic(t, p, `{"type":"latency","attributes":{"latency":2000}}`)
	r := newTestRemote(t, p.Listen, RemoteOptions{FailureThreshold: 2})
	fb := &fakeModel{version: "local", pred: Prediction{Score: 0.1}}
	m := WithFallback(r, fb)
	const calls = 10
	for i := range calls {
		ctx, cancel := context.WithCancel(context.Background())
		stop := time.AfterFunc(10*time.Millisecond, cancel)
		_, err := m.Predict(ctx, input(2000, quiet(2000)))
		stop.Stop()
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("call %d: err = %v, want context.Canceled", i, err)
		}
	}
	if got := r.BreakerState(); got != "closed" {
		t.Errorf("breaker %s after %d cancelled calls, want closed", got, calls)
	}
	if c := r.Counts(); c.TotalFailures != 0 || c.ConsecutiveFailures != 0 || c.TotalExclusions != calls {
		t.Errorf("breaker counts %+v, want %d exclusions and no failure", c, calls)
	}
	if fb.calls != 0 {
		t.Errorf("fallback called %d times for a caller that gave up, want 0", fb.calls)
	}

	t.Run("already cancelled ctx sends nothing", func(t *testing.T) {
		before := k.requests.Load()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := r.Predict(ctx, input(2000, quiet(2000))); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		time.Sleep(20 * time.Millisecond)
		if n := k.requests.Load() - before; n != 0 {
			t.Errorf("%d requests at the server, want 0", n)
		}
	})
}

// TestRemoteBusyFallsBackAtOnce: with MaxInFlight calls waiting on a slow
// server, the next call does not queue behind them: it fails at once with
// ErrBusy, which the breaker does not count, and the fallback answers.
func TestRemoteBusyFallsBackAtOnce(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, okBody)
	}))
	defer srv.Close()
	defer close(release)
	r := newTestRemote(t, srv.Listener.Addr().String(), RemoteOptions{MaxInFlight: 2})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { r.Predict(context.Background(), input(1, vel{})) })
	}
	for range 2 {
		select {
		case <-entered:
		case <-time.After(5 * time.Second):
			t.Fatal("the first two calls never reached the server")
		}
	}
	_, err := r.Predict(context.Background(), input(1, vel{}))
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("third call = %v, want ErrBusy", err)
	}
	if c := r.Counts(); c.TotalFailures != 0 || r.BreakerState() != "closed" {
		t.Errorf("breaker counts %+v state %s after ErrBusy, want nothing counted", c, r.BreakerState())
	}
	out := NewEngine(defaultRules(t), WithFallback(r, DefaultLogistic()), Options{}).Score(context.Background(), input(1, vel{}))
	if !out.Degraded || out.RulesOnly || !errors.Is(out.Cause, ErrBusy) {
		t.Errorf("engine output %+v, want the fallback model's degraded answer caused by ErrBusy", out)
	}
	release <- struct{}{}
	release <- struct{}{}
	wg.Wait()
}
