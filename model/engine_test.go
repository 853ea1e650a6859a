package model

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/fraudscore/scorer/fraud"
)

// oneRule is a review rule at score 0.7 on 3 failures.
const oneRule = `
version: rules-one
rules:
  - {code: CARD_FAILURES_10M, message: failures, when: "card_failed_count_10m >= 3", decision: review, score: 0.7}
  - {code: CARD_TESTING, message: testing, when: "card_failed_count_10m >= 9", decision: decline, score: 0.95}
`

func TestEngineDecisionOnlyRises(t *testing.T) {
	tests := []struct {
		name         string
		giveScore    float64
		giveFailed   float64 // card_failed_count_10m: 3 fires the review rule, 9 the decline rule too
		wantScore    float64
		wantDecision fraud.Decision
	}{
		{"model approve without rules stays approve", 0.1, 0, 0.1, fraud.Approve},
		{"review rule raises approve and the score", 0.1, 3, 0.7, fraud.Review},
		{"review rule keeps a higher model score", 0.75, 3, 0.75, fraud.Review},
		{"review rule does not lower a decline", 0.9, 3, 0.9, fraud.Decline},
		{"decline rule raises review", 0.6, 9, 0.95, fraud.Decline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &stubModel{pred: Prediction{Score: tt.giveScore}}
			e := NewEngine(mustRules(t, oneRule), m, Options{})
			out := e.Score(context.Background(), input(100, vel{failed10m: tt.giveFailed}))
			if out.Score != tt.wantScore || out.Decision != tt.wantDecision {
				t.Errorf("got score %v decision %v, want %v %v", out.Score, out.Decision, tt.wantScore, tt.wantDecision)
			}
			if out.Degraded || out.Cause != nil || out.ModelVersion != "stub-1" {
				t.Errorf("got degraded %v cause %v version %q, want a model answer from stub-1", out.Degraded, out.Cause, out.ModelVersion)
			}
		})
	}
}

func TestEngineThresholds(t *testing.T) {
	own := &Thresholds{Review: 0.3, Decline: 0.6}
	tests := []struct {
		name       string
		give       float64
		thresholds *Thresholds // the model's own, nil for none
		want       fraud.Decision
	}{
		{"just below review is approve", 0.4999, nil, fraud.Approve},
		{"exactly review is review", 0.5, nil, fraud.Review},
		{"just below decline is review", 0.8499, nil, fraud.Review},
		{"exactly decline is decline", 0.85, nil, fraud.Decline},
		{"1 is decline", 1, nil, fraud.Decline},
		{"0 is approve", 0, nil, fraud.Approve},
		{"model's own review threshold is used", 0.3, own, fraud.Review},
		{"model's own decline threshold is used", 0.6, own, fraud.Decline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Model = &stubModel{pred: Prediction{Score: tt.give}}
			if tt.thresholds != nil {
				m = &thresholdModel{stubModel: stubModel{pred: Prediction{Score: tt.give}}, th: *tt.thresholds}
			}
			out := NewEngine(mustRules(t, oneRule), m, Options{}).Score(context.Background(), input(1, vel{}))
			if out.Decision != tt.want {
				t.Errorf("score %v: decision = %v, want %v", tt.give, out.Decision, tt.want)
			}
		})
	}
}

func TestEngineReasonOrder(t *testing.T) {
	rules := mustRules(t, `
version: rules-order
rules:
  - {code: REVIEW_LOW_A, message: a, when: "amount > 0", decision: review, score: 0.6}
  - {code: DECLINE, message: d, when: "amount > 0", decision: decline, score: 0.9}
  - {code: REVIEW_HIGH, message: h, when: "amount > 0", decision: review, score: 0.8}
  - {code: SHARED, message: from the rule, when: "amount > 0", decision: review, score: 0.6}
  - {code: REVIEW_HIGH, message: again, when: "amount > 0", decision: review, score: 0.55}
  - {code: NOT_MATCHING, message: n, when: "amount < 0", decision: decline, score: 1}
`)
	m := &stubModel{pred: Prediction{Score: 0.2, NumReasons: 3, Contributions: []Contribution{
		{Feature: "a", Value: 2, Code: "SHARED", Message: "from the model"},
		{Feature: "b", Value: 1.5, Code: "MODEL_B", Message: "b"},
		{Feature: "c", Value: 1, Code: "", Message: "no code is no reason"},
		{Feature: "d", Value: 0.9, Code: "MODEL_D", Message: "beyond NumReasons"},
	}}}
	out := NewEngine(rules, m, Options{}).Score(context.Background(), input(1, vel{}))
	want := []fraud.Reason{
		{Code: "DECLINE", Message: "d"},
		{Code: "REVIEW_HIGH", Message: "h"},
		{Code: "REVIEW_LOW_A", Message: "a"},
		{Code: "SHARED", Message: "from the rule"},
		{Code: "MODEL_B", Message: "b"},
	}
	if !slices.Equal(out.Reasons, want) {
		t.Errorf("reasons = %v, want %v", out.Reasons, want)
	}
}

func TestEngineModelReasons(t *testing.T) {
	tests := []struct {
		name string
		give vel
		amt  int64
		want []string
	}{
		{"ordinary purchase has no reasons", quiet(2000), 2000, []string{}},
		{"burst lists rule then model reasons by contribution, at most 3 from the model",
			vel{n1m: 7, n5m: 7, n1h: 7, n24h: 7, sum1h: 315000, sum24h: 315000, merchants1h: 1, sincePrev: 8}, 300000,
			[]string{"CARD_VELOCITY_1M", "HIGH_AMOUNT", "CARD_RAPID_REPEAT"}},
	}
	e := NewEngine(defaultRules(t), DefaultLogistic(), Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := e.Score(context.Background(), input(tt.amt, tt.give))
			if got := codes(out.Reasons); !slices.Equal(got, tt.want) {
				t.Errorf("reasons = %v, want %v", got, tt.want)
			}
			if out.Reasons == nil {
				t.Error("reasons are nil, want an empty list")
			}
		})
	}
}

func TestEngineDegraded(t *testing.T) {
	deadline := time.Now().Add(time.Hour) // far enough never to fire during the test
	withDeadline := func(t *testing.T) context.Context {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		t.Cleanup(cancel)
		return ctx
	}
	cancelled := func(t *testing.T) context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}
	errDown := errors.New("model down")
	tests := []struct {
		name      string
		model     func() Model
		ctx       func(t *testing.T) context.Context
		remaining time.Duration // Now() is deadline - remaining
		wantCause error         // nil: not degraded
		wantCalls int
	}{
		{"model error", func() Model { return &stubModel{err: errDown} }, withDeadline, time.Second, errDown, 1},
		{"deadline nearer than reserve", func() Model { return &stubModel{} }, withDeadline, DefaultReserve - 1, ErrBudget, 0},
		{"deadline exactly reserve away is served", func() Model { return &stubModel{} }, withDeadline, DefaultReserve, nil, 1},
		{"cancelled ctx", func() Model { return &stubModel{} }, cancelled, 0, context.Canceled, 0},
		{"nil model", func() Model { return nil }, withDeadline, time.Second, ErrNoModel, 0},
		{"typed nil Logistic", func() Model { return (*Logistic)(nil) }, withDeadline, time.Second, ErrNoModel, 0},
		{"score out of range", func() Model { return &stubModel{pred: Prediction{Score: 1.5}} }, withDeadline, time.Second, ErrInvalidPrediction, 1},
		{"NaN score", func() Model { return &stubModel{pred: Prediction{Score: math.NaN()}} }, withDeadline, time.Second, ErrInvalidPrediction, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.model()
			e := NewEngine(defaultRules(t), m, Options{Now: func() time.Time { return deadline.Add(-tt.remaining) }})
			v := quiet(0)
			v.failed10m = 3
			out := e.Score(tt.ctx(t), input(600000, v))

			if stub, ok := m.(*stubModel); ok && stub.calls != tt.wantCalls {
				t.Errorf("model called %d times, want %d", stub.calls, tt.wantCalls)
			}
			if tt.wantCause == nil {
				if out.Degraded || out.Cause != nil {
					t.Errorf("degraded %v cause %v, want a model answer", out.Degraded, out.Cause)
				}
				return
			}
			if !out.Degraded || !errors.Is(out.Cause, tt.wantCause) {
				t.Errorf("degraded %v cause %v, want degraded by %v", out.Degraded, out.Cause, tt.wantCause)
			}
			if out.Score != 0.7 || out.Decision != fraud.Review {
				t.Errorf("score %v decision %v, want the rules' 0.7 review", out.Score, out.Decision)
			}
			if got, want := codes(out.Reasons), []string{"CARD_FAILURES_10M", "HIGH_AMOUNT"}; !slices.Equal(got, want) {
				t.Errorf("reasons = %v, want %v", got, want)
			}
			if got, want := out.ModelVersion, "rules-default-1"; got != want {
				t.Errorf("model version = %q, want the rules version %q", got, want)
			}
		})
	}
}

func TestEngineDegradedWithoutMatchingRulesApproves(t *testing.T) {
	out := NewEngine(defaultRules(t), nil, Options{}).Score(context.Background(), input(2000, quiet(2000)))
	if !out.Degraded || out.Score != 0 || out.Decision != fraud.Approve || len(out.Reasons) != 0 {
		t.Errorf("got %+v, want a degraded approve with score 0 and no reasons", out)
	}
}

func TestEngineReserve(t *testing.T) {
	deadline := time.Now().Add(time.Hour)
	now := func() time.Time { return deadline.Add(-10 * time.Millisecond) }
	tests := []struct {
		name         string
		give         time.Duration // Options.Reserve
		wantDeadline time.Time     // seen by a remote model
		wantDegraded bool
	}{
		{"remote model's deadline is moved by the default reserve", 0, deadline.Add(-DefaultReserve), false},
		{"remote model's deadline is moved by the reserve", 5 * time.Millisecond, deadline.Add(-5 * time.Millisecond), false},
		{"negative reserve keeps the deadline", -1, deadline, false},
		{"reserve above the remaining time degrades", 11 * time.Millisecond, time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			m := &stubModel{pred: Prediction{Score: 0.1}}
			out := NewEngine(defaultRules(t), m, Options{Reserve: tt.give, Now: now}).Score(ctx, input(1, vel{}))
			if out.Degraded != tt.wantDegraded {
				t.Fatalf("degraded = %v (%v), want %v", out.Degraded, out.Cause, tt.wantDegraded)
			}
			if !m.deadline.Equal(tt.wantDeadline) {
				t.Errorf("model saw deadline %v, want %v", m.deadline, tt.wantDeadline)
			}
		})
	}
}

func TestEngineScoreAllocations(t *testing.T) {
	e := NewEngine(defaultRules(t), DefaultLogistic(), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in := input(300000, vel{n1m: 7, n5m: 7, n1h: 7, n24h: 7, sum1h: 315000, sum24h: 315000, merchants1h: 1, sincePrev: 8})
	if n := testing.AllocsPerRun(100, func() { e.Score(ctx, in) }); n > 1 {
		t.Errorf("Score allocates %v times, want at most 1 (the reasons)", n)
	}
}

func TestEngineIsSafeForConcurrentUse(t *testing.T) {
	e := NewEngine(defaultRules(t), DefaultLogistic(), Options{})
	want := e.Score(context.Background(), input(300000, vel{n1m: 7}))
	done := make(chan Output)
	for range 8 {
		go func() {
			var out Output
			for range 100 {
				out = e.Score(context.Background(), input(300000, vel{n1m: 7}))
			}
			done <- out
		}()
	}
	for range 8 {
		if got := <-done; got.Score != want.Score || !slices.Equal(got.Reasons, want.Reasons) {
			t.Errorf("concurrent Score = %+v, want %+v", got, want)
		}
	}
}

func BenchmarkEngineScore(b *testing.B) {
	e := NewEngine(defaultRules(b), DefaultLogistic(), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	for _, bc := range []struct {
		name string
		in   Input
	}{
		{"ordinary", input(2000, quiet(2000))},
		{"burst", input(300000, vel{n1m: 7, n5m: 7, n1h: 7, n24h: 7, sum1h: 315000, sum24h: 315000, merchants1h: 1, sincePrev: 8})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.Score(ctx, bc.in)
			}
		})
	}
}
