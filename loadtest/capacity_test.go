package loadtest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeStep is a step function for search: a service that answers up to
// capacity requests per second and sheds the rest, with an admitted p99 of
// p99(rate) ms. It records the rates it was asked for.
type fakeStep struct {
	capacity float64
	p99      func(rate float64) float64
	rates    []float64
}

func (f *fakeStep) run(_ context.Context, rate float64) (*Report, error) {
	f.rates = append(f.rates, rate)
	n := int64(rate) // a one-second step
	ok := min(n, int64(f.capacity))
	p99 := 1.0
	if f.p99 != nil {
		p99 = f.p99(rate)
	}
	return &Report{Requests: n, Sent: n, Successes: ok, Shed: n - ok,
		OKLatency: Percentiles{Count: ok, P50: p99 / 2, P99: p99, Max: p99}, Latency: Percentiles{P99: p99}}, nil
}

func TestCapacitySearch(t *testing.T) {
	base := CapacityConfig{MaxP99: 10 * time.Millisecond, StepDuration: time.Second, Settle: -1, Retries: -1}
	tests := []struct {
		name string
		cfg  func(*CapacityConfig)
		fake fakeStep
		// want: the capacity's band, whether it converged and why it
		// stopped; the rates asked for start with wantFirst.
		wantLo, wantHi float64
		wantConverged  bool
		wantStop       string
		wantFirst      []float64
		wantAnswer     string
	}{
		{
			name: "grows by half from the start rate, then bisects to within 5%",
			fake: fakeStep{capacity: 6000}, wantLo: 6000 / 1.05, wantHi: 6000, wantConverged: true, wantStop: "converged",
			wantFirst:  []float64{500, 750, 1125, 1688, 2532, 3798, 5697, 8546},
			wantAnswer: "capacity = ",
		},
		{
			name: "the latency budget bounds the capacity as sheds do",
			fake: fakeStep{capacity: 1e9, p99: func(rate float64) float64 { return rate / 400 }},
			// p99 <= 10ms up to 4000/s
			wantLo: 4000 / 1.05, wantHi: 4000, wantConverged: true, wantStop: "converged",
		},
		{
			name: "a start rate that fails finds nothing after one step",
			fake: fakeStep{capacity: 100}, wantStop: "the start rate failed", wantFirst: []float64{500},
			wantAnswer: "even the start rate 500/s fails",
		},
		{
			name: "a passing max rate ends the search there",
			cfg:  func(c *CapacityConfig) { c.MaxRate = 1000 },
			fake: fakeStep{capacity: 1e9}, wantLo: 1000, wantHi: 1000, wantStop: "the max rate passed",
			wantFirst: []float64{500, 750, 1000}, wantAnswer: "capacity ≥ 1000/s",
		},
		{
			name: "the step budget ends a search still growing, with a lower bound",
			cfg:  func(c *CapacityConfig) { c.MaxSteps = 4 },
			fake: fakeStep{capacity: 1e9}, wantLo: 1688, wantHi: 1688, wantStop: "step budget",
			wantFirst: []float64{500, 750, 1125, 1688}, wantAnswer: "capacity ≥ 1688/s",
		},
		{
			name: "the step budget ends a bisection short of 5%",
			cfg:  func(c *CapacityConfig) { c.MaxSteps = 9 },
			fake: fakeStep{capacity: 6000}, wantLo: 5697, wantHi: 6000, wantStop: "step budget",
			wantAnswer: "before the two were within 5%",
		},
		{
			name: "an allowed error rate lets a step shed a little",
			cfg:  func(c *CapacityConfig) { c.MaxErrorRate = 0.1; c.StartRate = 1000 },
			fake: fakeStep{capacity: 1000}, wantLo: 1000 / 1.05, wantHi: 1000 / 0.9, wantConverged: true, wantStop: "converged",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			var curve strings.Builder
			cfg.Out = &curve
			if err := cfg.defaults(); err != nil {
				t.Fatal(err)
			}
			fake := tt.fake
			rep, err := search(context.Background(), cfg, fake.run)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("rates %v\n%s%s", fake.rates, curve.String(), rep.Answer())
			if rep.Rate < tt.wantLo || rep.Rate > tt.wantHi {
				t.Errorf("capacity %v, want %v..%v", rep.Rate, tt.wantLo, tt.wantHi)
			}
			if rep.Converged != tt.wantConverged || !strings.Contains(rep.Stop, tt.wantStop) {
				t.Errorf("converged %v, stop %q; want %v, %q", rep.Converged, rep.Stop, tt.wantConverged, tt.wantStop)
			}
			if len(rep.Steps) > cfg.MaxSteps || len(rep.Steps) != len(fake.rates) {
				t.Errorf("%d steps for %d runs, want at most %d", len(rep.Steps), len(fake.rates), cfg.MaxSteps)
			}
			for i, r := range tt.wantFirst {
				if i >= len(fake.rates) || fake.rates[i] != r {
					t.Fatalf("rates %v, want them to start %v", fake.rates, tt.wantFirst)
				}
			}
			// The answer is the highest passing rate, the fail rate the
			// lowest failing one above it.
			var hiPass, loFail float64
			for _, s := range rep.Steps {
				if s.Retried {
					continue // its rate's verdict is the retry's
				}
				if s.Pass {
					hiPass = max(hiPass, s.Offered)
				} else if loFail == 0 || s.Offered < loFail {
					loFail = s.Offered
				}
			}
			if rep.Rate != hiPass || rep.FailRate != loFail {
				t.Errorf("rate %v, fail rate %v; the steps' highest pass is %v, lowest fail %v", rep.Rate, rep.FailRate, hiPass, loFail)
			}
			if rep.Converged && rep.FailRate-rep.Rate > 0.05*rep.Rate {
				t.Errorf("converged with %v and %v more than 5%% apart", rep.Rate, rep.FailRate)
			}
			if got := strings.Count(curve.String(), "\n"); got != len(rep.Steps)+1 {
				t.Errorf("the curve printed %d lines, want a header and one per step (%d):\n%s", got, len(rep.Steps), curve.String())
			}
			if !strings.Contains(rep.Answer(), tt.wantAnswer) {
				t.Errorf("answer %q lacks %q", rep.Answer(), tt.wantAnswer)
			}
		})
	}
}

// flakyStep fails the first try at each rate in failOnce (a background
// burst in that step), then behaves as fakeStep.
type flakyStep struct {
	fakeStep
	failOnce map[float64]bool
}

func (f *flakyStep) run(ctx context.Context, rate float64) (*Report, error) {
	if f.failOnce[rate] {
		f.failOnce[rate] = false
		f.rates = append(f.rates, rate)
		n := int64(rate)
		return &Report{Requests: n, Sent: n, Successes: n,
			OKLatency: Percentiles{Count: n, P50: 1, P99: 500, Max: 500}, Latency: Percentiles{P99: 500}}, nil
	}
	return f.fakeStep.run(ctx, rate)
}

// TestCapacitySearchRetriesAFailingStep: one step that catches a burst
// does not end the growth; a rate that fails every try does.
func TestCapacitySearchRetriesAFailingStep(t *testing.T) {
	cfg := CapacityConfig{MaxP99: 10 * time.Millisecond, StepDuration: time.Second, Settle: -1}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	f := &flakyStep{fakeStep: fakeStep{capacity: 6000}, failOnce: map[float64]bool{1688: true}}
	rep, err := search(context.Background(), cfg, f.run)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{500, 750, 1125, 1688, 1688, 2532, 3798, 5697, 8546, 8546}
	if len(f.rates) < len(want) || !slices.Equal(f.rates[:len(want)], want) {
		t.Fatalf("rates %v, want them to start %v: the burst at 1688 tried again, 8546 failing twice", f.rates, want)
	}
	if rep.Rate < 6000/1.05 || rep.Rate > 6000 || !rep.Converged {
		t.Fatalf("capacity %v (converged %v), want within 5%% under 6000", rep.Rate, rep.Converged)
	}
	if s := rep.Steps[3]; s.Pass || !s.Retried || rep.Steps[4].Phase != "retry" || !rep.Steps[4].Pass {
		t.Fatalf("steps 4 and 5 = %+v, %+v; want a failed try marked retried, then a passing retry", s, rep.Steps[4])
	}
	if cfg.Retries = -1; true {
		cfg.defaults()
	}
	f = &flakyStep{fakeStep: fakeStep{capacity: 6000}, failOnce: map[float64]bool{1688: true}}
	rep, _ = search(context.Background(), cfg, f.run)
	if rep.Rate >= 1688 {
		t.Fatalf("with retries off the burst at 1688 should have ended the growth; capacity %v", rep.Rate)
	}
}

func TestCapacityStepJudgement(t *testing.T) {
	cfg := CapacityConfig{MaxP99: 10 * time.Millisecond, MaxErrorRate: 0.01, StepDuration: time.Second}
	tests := []struct {
		name     string
		rep      Report
		wantPass bool
		wantWhy  string
	}{
		{name: "within both bounds passes",
			rep: Report{Requests: 1000, Successes: 995, Shed: 5, OKLatency: Percentiles{Count: 995, P99: 9}}, wantPass: true},
		{name: "the budget bounds the admitted p99, not the all-answers p99",
			rep:      Report{Requests: 1000, Successes: 1000, OKLatency: Percentiles{Count: 1000, P99: 9}, Latency: Percentiles{P99: 50}},
			wantPass: true},
		{name: "an admitted p99 over the budget fails",
			rep: Report{Requests: 1000, Successes: 1000, OKLatency: Percentiles{Count: 1000, P99: 11}}, wantWhy: "admitted p99"},
		{name: "sheds, errors and drops count together against the error rate",
			rep:     Report{Requests: 1000, Successes: 988, Shed: 4, Errors: 4, Dropped: 4, OKLatency: Percentiles{Count: 988, P99: 1}},
			wantWhy: "errors+sheds+drops 1.2% > 1%"},
		{name: "a step without a success fails whatever its latency",
			rep: Report{Requests: 10, Errors: 0, Shed: 10}, wantWhy: "no successful answer"},
		{name: "a step failed by drops points at the client",
			rep: Report{Requests: 1000, Successes: 900, Dropped: 100, OKLatency: Percentiles{Count: 900, P99: 1}}, wantWhy: "--max-inflight"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := judge(cfg, &tt.rep, 1000)
			if s.Pass != tt.wantPass || !strings.Contains(s.Why, tt.wantWhy) {
				t.Errorf("pass %v why %q, want %v %q", s.Pass, s.Why, tt.wantPass, tt.wantWhy)
			}
			if s.Goodput != float64(tt.rep.Successes) {
				t.Errorf("goodput %v, want the successes of the one-second step %d", s.Goodput, tt.rep.Successes)
			}
		})
	}
}

func TestFindCapacityRefusals(t *testing.T) {
	gen := func() (Source, error) { return testGenerator("r"), nil }
	tests := []struct {
		name   string
		cfg    CapacityConfig
		target Target
		want   string
	}{
		{"a search needs a latency budget", CapacityConfig{}, NewHTTPTarget(HTTPConfig{BaseURL: "http://127.0.0.1:1"}), "--max-p99"},
		{"a start rate above the max rate", CapacityConfig{MaxP99: time.Second, StartRate: 10, MaxRate: 5},
			NewHTTPTarget(HTTPConfig{BaseURL: "http://127.0.0.1:1"}), "max rate"},
		{"a target that finishes after one run", CapacityConfig{MaxP99: time.Second}, &KafkaTarget{}, "HTTP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := FindCapacity(context.Background(), tt.cfg, gen, tt.target)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("FindCapacity = %+v, %v; want an error mentioning %q", rep, err, tt.want)
			}
		})
	}
}

func TestFindCapacityStopsWhenInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	srv := slowServer(t, 1, time.Millisecond)
	target := NewHTTPTarget(HTTPConfig{BaseURL: srv.URL})
	defer target.Close()
	// A settle of an hour: only the cancelled context ends it.
	cfg := CapacityConfig{MaxP99: time.Second, Settle: time.Hour}
	rep, err := FindCapacity(ctx, cfg, func() (Source, error) { return testGenerator("i"), nil }, target)
	if !errors.Is(err, context.Canceled) || !rep.Interrupted || len(rep.Steps) != 0 {
		t.Fatalf("FindCapacity = %+v, %v; want interrupted before any step", rep, err)
	}
}

func TestCapacitySearchInterruptedKeepsWhatPassed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := CapacityConfig{MaxP99: 10 * time.Millisecond, StepDuration: time.Second, Settle: -1}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	fake := fakeStep{capacity: 1e9}
	step := func(ctx context.Context, rate float64) (*Report, error) {
		if len(fake.rates) == 2 { // the third step is interrupted
			cancel()
			return &Report{Interrupted: true}, nil
		}
		return fake.run(ctx, rate)
	}
	rep, err := search(ctx, cfg, step)
	if !errors.Is(err, context.Canceled) || !rep.Interrupted {
		t.Fatalf("search = %+v, %v; want interrupted", rep, err)
	}
	if rep.Rate != 750 || len(rep.Steps) != 2 || rep.Report == nil {
		t.Errorf("rate %v after %d steps, want 750/s from the two that ran", rep.Rate, len(rep.Steps))
	}
	if !strings.Contains(rep.Answer(), "capacity ≥ 750/s") || !strings.Contains(rep.Answer(), "interrupted") {
		t.Errorf("answer %q, want a lower bound of 750/s and the interruption", rep.Answer())
	}
}

// closingSource counts how often its source was closed.
type closingSource struct {
	Source
	closed *int
}

func (c closingSource) Close() error { *c.closed++; return nil }

// shedServer answers POST /score after serviceTime, at most slots at a
// time, and sheds (503 at once) what finds every slot busy: its capacity
// is slots/serviceTime per second, and beyond it the admitted latency
// stays the service time while the sheds grow.
func shedServer(t *testing.T, slots int, serviceTime time.Duration) *httptest.Server {
	t.Helper()
	sem := make(chan struct{}, slots)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case sem <- struct{}{}:
		default:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"title":"overloaded","status":503}`))
			return
		}
		time.Sleep(serviceTime)
		<-sem
		w.Write([]byte(`{"decision":"approve"}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFindCapacityAgainstAServer(t *testing.T) {
	// Both servers serve 8 at a time for 20ms: 400/s. One sheds beyond,
	// the other queues, so that the admitted latency grows.
	const capacity = 400.0
	tests := []struct {
		name   string
		server func(*testing.T) *httptest.Server
		cfg    CapacityConfig
		// Above, the band is physical: a step that passes cannot have
		// offered much more than the server serves (sheds or queues). Below
		// it is wide: a machine busy with other tests can stall a step
		// enough to fail it, and the search then bisects beneath it; it
		// still finds more than the start rate of a quarter of the capacity.
		wantLo, wantHi float64
	}{
		{
			name:   "sheds beyond capacity: the error rate bounds it",
			server: func(t *testing.T) *httptest.Server { return shedServer(t, 8, 20*time.Millisecond) },
			cfg:    CapacityConfig{MaxP99: time.Second, MaxErrorRate: 0.01},
			wantLo: 0.3 * capacity, wantHi: 1.15 * capacity,
		},
		{
			name:   "queues beyond capacity: the latency budget bounds it",
			server: func(t *testing.T) *httptest.Server { return slowServer(t, 8, 20*time.Millisecond) },
			cfg:    CapacityConfig{MaxP99: 60 * time.Millisecond, MaxErrorRate: 0.01},
			wantLo: 0.3 * capacity, wantHi: 1.25 * capacity,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tt.server(t)
			target := NewHTTPTarget(HTTPConfig{BaseURL: srv.URL, MaxInFlight: 128})
			defer target.Close()
			cfg := tt.cfg
			cfg.StartRate, cfg.MaxRate = 100, 4000
			cfg.StepDuration, cfg.Settle = 300*time.Millisecond, 20*time.Millisecond
			cfg.MaxInFlight, cfg.MaxSteps = 128, 12
			var curve strings.Builder
			cfg.Out = &curve
			var opened, closed int
			newSource := func() (Source, error) {
				opened++
				return closingSource{testGenerator("fc" + string(rune('a'+opened))), &closed}, nil
			}
			rep, err := FindCapacity(context.Background(), cfg, newSource, target)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("\n%s%s", curve.String(), rep.Answer())
			if rep.Rate < tt.wantLo || rep.Rate > tt.wantHi {
				t.Errorf("capacity %v/s, want %v..%v/s (the server's is %v/s)", rep.Rate, tt.wantLo, tt.wantHi, capacity)
			}
			if rep.FailRate == 0 || len(rep.Steps) > cfg.MaxSteps {
				t.Errorf("%d steps, fail rate %v: want a failing step within %d steps", len(rep.Steps), rep.FailRate, cfg.MaxSteps)
			}
			if opened != len(rep.Steps) || closed != opened {
				t.Errorf("%d sources opened and %d closed for %d steps, want one each", opened, closed, len(rep.Steps))
			}
			for _, s := range rep.Steps {
				if want := int64(s.Offered * cfg.StepDuration.Seconds()); s.Requests < want || s.Requests > want+1 {
					t.Errorf("step %d offered %d requests at %v/s, want %d", s.Step, s.Requests, s.Offered, want)
				}
			}
			if rep.Report == nil || rep.Report.Rate < rep.Rate || len(rep.Report.Stages) != 1 {
				t.Errorf("the report at capacity is not the step at %v/s: %+v", rep.Rate, rep.Report)
			}
		})
	}
}
