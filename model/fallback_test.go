package model

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/fraudscore/scorer/fraud"
)

// fakeModel is a Model with a fixed answer that records its calls.
type fakeModel struct {
	version  string
	pred     Prediction
	err      error
	calls    int
	deadline time.Time // of the last call's ctx
}

func (m *fakeModel) Predict(ctx context.Context, in Input) (Prediction, error) {
	m.calls++
	m.deadline, _ = ctx.Deadline()
	if err := ctx.Err(); err != nil {
		return Prediction{}, err
	}
	if m.err != nil {
		return Prediction{}, m.err
	}
	p := m.pred
	p.Contributions = slices.Clone(p.Contributions)
	return p, nil
}

func (m *fakeModel) Version() string { return m.version }

// calibrated is a fakeModel with its own thresholds.
type calibrated struct {
	*fakeModel
	th Thresholds
}

func (m calibrated) Thresholds() Thresholds { return m.th }

func TestWithFallbackEngineOutput(t *testing.T) {
	errDown := errors.New("primary down")
	fallbackTh := Thresholds{Review: 0.2, Decline: 0.3}
	tests := []struct {
		name         string
		primary      *fakeModel
		wantScore    float64
		wantDecision fraud.Decision
		wantVersion  string
		wantCause    error // nil: not degraded
		wantReasons  []string
	}{
		{
			name:         "primary's answer is not degraded and uses the fallback's thresholds",
			primary:      &fakeModel{version: "primary-1", pred: Prediction{Score: 0.25}},
			wantScore:    0.25,
			wantDecision: fraud.Review, // 0.25 >= the fallback's 0.2: the primary has none of its own
			wantVersion:  "primary-1",
			wantReasons:  []string{},
		},
		{
			name:         "primary's error gives the fallback's answer, degraded, with the primary's error as cause",
			primary:      &fakeModel{version: "primary-1", err: errDown},
			wantScore:    0.35,
			wantDecision: fraud.Decline,
			wantVersion:  "fallback-1",
			wantCause:    errDown,
			wantReasons:  []string{"FB_REASON"},
		},
		{
			name:         "primary's out of range score falls back",
			primary:      &fakeModel{version: "primary-1", pred: Prediction{Score: 1.7}},
			wantScore:    0.35,
			wantDecision: fraud.Decline,
			wantVersion:  "fallback-1",
			wantCause:    ErrInvalidPrediction,
			wantReasons:  []string{"FB_REASON"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb := calibrated{&fakeModel{version: "fallback-1", pred: Prediction{Score: 0.35, NumReasons: 1,
				Contributions: []Contribution{{Feature: "amount", Value: 1, Code: "FB_REASON", Message: "m"}}}}, fallbackTh}
			e := NewEngine(defaultRules(t), WithFallback(tt.primary, fb), Options{})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out := e.Score(ctx, input(2000, quiet(2000)))

			if out.Score != tt.wantScore || out.Decision != tt.wantDecision || out.ModelVersion != tt.wantVersion {
				t.Errorf("got score %v decision %v version %q, want %v %v %q",
					out.Score, out.Decision, out.ModelVersion, tt.wantScore, tt.wantDecision, tt.wantVersion)
			}
			if got, want := out.Degraded, tt.wantCause != nil; got != want {
				t.Errorf("degraded = %v (cause %v), want %v", got, out.Cause, want)
			}
			if tt.wantCause != nil && !errors.Is(out.Cause, tt.wantCause) {
				t.Errorf("cause = %v, want %v", out.Cause, tt.wantCause)
			}
			if got := codes(out.Reasons); !slices.Equal(got, tt.wantReasons) {
				t.Errorf("reasons = %v, want %v", got, tt.wantReasons)
			}
		})
	}
}

func TestWithFallbackDegradedUsesFallbackThresholds(t *testing.T) {
	primary := calibrated{&fakeModel{version: "p", err: errors.New("down")}, Thresholds{Review: 0.9, Decline: 0.95}}
	fb := calibrated{&fakeModel{version: "f", pred: Prediction{Score: 0.5}}, Thresholds{Review: 0.4, Decline: 0.45}}
	out := NewEngine(defaultRules(t), WithFallback(primary, fb), Options{}).Score(context.Background(), input(2000, quiet(2000)))
	if !out.Degraded || out.Decision != fraud.Decline {
		t.Errorf("got degraded %v decision %v, want a degraded decline by the fallback's own thresholds", out.Degraded, out.Decision)
	}
}

func TestWithFallbackThresholds(t *testing.T) {
	pt, ft := Thresholds{Review: 0.1, Decline: 0.2}, Thresholds{Review: 0.3, Decline: 0.4}
	tests := []struct {
		name              string
		primary, fallback Model
		want              Thresholds
	}{
		{"primary's own", calibrated{&fakeModel{}, pt}, calibrated{&fakeModel{}, ft}, pt},
		{"fallback's when the primary has none", &fakeModel{}, calibrated{&fakeModel{}, ft}, ft},
		{"the engine's defaults when neither has any", &fakeModel{}, &fakeModel{}, defaultThresholds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := WithFallback(tt.primary, tt.fallback).(Thresholder).Thresholds()
			if got != tt.want {
				t.Errorf("thresholds = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWithFallbackDeadlines(t *testing.T) {
	t.Run("primary's deadline is the engine's reserve and the fallback reserve before the request's", func(t *testing.T) {
		deadline := time.Now().Add(time.Hour)
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		primary, fb := &fakeModel{version: "p", pred: Prediction{Score: 0.1}}, &fakeModel{version: "f"}
		out := NewEngine(defaultRules(t), WithFallback(primary, fb), Options{Reserve: 10 * time.Millisecond}).Score(ctx, input(2000, quiet(2000)))
		if out.Degraded {
			t.Fatalf("degraded by %v, want the primary's answer", out.Cause)
		}
		if want := deadline.Add(-10*time.Millisecond - FallbackReserve); !primary.deadline.Equal(want) {
			t.Errorf("primary saw deadline %v, want %v", primary.deadline, want)
		}
		if fb.calls != 0 {
			t.Errorf("fallback called %d times, want 0", fb.calls)
		}
	})
	t.Run("less than the fallback reserve left skips the primary", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), FallbackReserve/2)
		defer cancel()
		primary, fb := &fakeModel{version: "p"}, &fakeModel{version: "f", pred: Prediction{Score: 0.1}}
		p, err := WithFallback(primary, fb).Predict(ctx, input(2000, quiet(2000)))
		if err != nil || !p.Degraded || !errors.Is(p.cause, ErrBudget) {
			t.Errorf("got degraded %v cause %v err %v, want the fallback's answer for ErrBudget", p.Degraded, p.cause, err)
		}
		if primary.calls != 0 || fb.calls != 1 {
			t.Errorf("primary called %d, fallback %d times, want 0 and 1", primary.calls, fb.calls)
		}
	})
	t.Run("caller's cancelled ctx does not fall back", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		primary := &fakeModel{version: "p", err: context.Canceled}
		fb := &fakeModel{version: "f", pred: Prediction{Score: 0.1}}
		_, err := WithFallback(primary, fb).Predict(ctx, input(2000, quiet(2000)))
		if !errors.Is(err, context.Canceled) || fb.calls != 0 {
			t.Errorf("got err %v with %d fallback calls, want context.Canceled and none", err, fb.calls)
		}
	})
}

func TestWithFallbackBothFail(t *testing.T) {
	errP, errF := errors.New("primary down"), errors.New("fallback broken")
	out := NewEngine(defaultRules(t), WithFallback(&fakeModel{version: "p", err: errP}, &fakeModel{version: "f", err: errF}), Options{}).
		Score(context.Background(), input(2000, quiet(2000)))
	if !out.Degraded || !errors.Is(out.Cause, errP) || !errors.Is(out.Cause, errF) || out.ModelVersion != "rules-default-1" {
		t.Errorf("got degraded %v cause %v version %q, want the rules' answer naming both errors", out.Degraded, out.Cause, out.ModelVersion)
	}
}

func TestEngineDegradedPredictionWithoutCause(t *testing.T) {
	m := &fakeModel{version: "m", pred: Prediction{Score: 0.1, Degraded: true}}
	out := NewEngine(defaultRules(t), m, Options{}).Score(context.Background(), input(2000, quiet(2000)))
	if !out.Degraded || !errors.Is(out.Cause, ErrFallback) || out.ModelVersion != "m" {
		t.Errorf("got degraded %v cause %v version %q, want degraded by ErrFallback from m", out.Degraded, out.Cause, out.ModelVersion)
	}
}
