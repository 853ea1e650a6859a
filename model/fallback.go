package model

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// FallbackReserve is the time WithFallback keeps for its fallback: the
// primary model is called with its deadline moved this much earlier, so
// that when the primary is cut off at its deadline the fallback (an
// in-process model, microseconds) still answers before the caller's. It is
// generous because a loaded 2-core machine can be late to wake a goroutine
// by several milliseconds: 5 ms was seen to leave the rules alone to answer.
//
// Inside an Engine the budget then splits as
//
//	request deadline
//	  - Options.Reserve  (the engine's own, for the rules)  = the model's deadline
//	  - FallbackReserve                                      = the primary's deadline
const FallbackReserve = 25 * time.Millisecond

// ErrFallback is an Output's Cause when a Model marked its Prediction
// Degraded without saying why.
var ErrFallback = errors.New("model: answer from a fallback model")

// defaultThresholds are used for a Model that is not a Thresholder.
var defaultThresholds = Thresholds{Review: 0.5, Decline: 0.85}

// WithFallback returns a Model that asks primary and, when primary fails,
// answers from fallback with Prediction.Degraded set. Primary fails when
// it returns an error (including gobreaker.ErrOpenState from an open
// Remote and its deadline, FallbackReserve before ctx's, passing), returns
// a score outside [0,1], or when less than FallbackReserve remains (then it
// is not called; the cause is ErrBudget). When ctx itself is done, Predict
// returns the error and does not fall back: the caller has given up or has
// no time left.
//
// The Engine reports a Degraded prediction with Output.Degraded true, the
// fallback's version as ModelVersion, primary's error as Cause and the
// fallback's thresholds. The returned Model's Version is primary's; its
// Thresholds are primary's when it is a Thresholder, else fallback's, else
// the Engine's defaults (0.5, 0.85). Both models must be non-nil.
func WithFallback(primary, fallback Model) Model {
	if primary == nil || fallback == nil {
		panic("model: WithFallback with a nil model")
	}
	f := &fallbackModel{primary: primary, fallback: fallback}
	f.thresholds, _ = primary.(Thresholder)
	if f.thresholds == nil {
		f.thresholds, _ = fallback.(Thresholder)
	}
	f.fallbackThresholds, _ = fallback.(Thresholder)
	return f
}

type fallbackModel struct {
	primary, fallback  Model
	thresholds         Thresholder // primary's, else fallback's, or nil
	fallbackThresholds Thresholder // or nil
}

var (
	_ Model       = (*fallbackModel)(nil)
	_ Thresholder = (*fallbackModel)(nil)
)

func (f *fallbackModel) Version() string { return f.primary.Version() }

func (f *fallbackModel) Thresholds() Thresholds {
	if f.thresholds == nil {
		return defaultThresholds
	}
	return f.thresholds.Thresholds()
}

func (f *fallbackModel) Predict(ctx context.Context, in Input) (Prediction, error) {
	if err := ctx.Err(); err != nil {
		return Prediction{}, err
	}
	p, cause := f.tryPrimary(ctx, &in)
	if cause == nil {
		return p, nil
	}
	if err := ctx.Err(); err != nil {
		return Prediction{}, fmt.Errorf("%w (primary model %s: %v)", err, f.primary.Version(), cause)
	}
	pred, err := f.fallback.Predict(ctx, in)
	if err != nil {
		return Prediction{}, fmt.Errorf("fallback model %s: %w (primary: %w)", f.fallback.Version(), err, cause)
	}
	pred.Degraded = true
	pred.cause = cause
	if pred.version == "" {
		pred.version = f.fallback.Version()
	}
	pred.thresholds = defaultThresholds
	if f.fallbackThresholds != nil {
		pred.thresholds = f.fallbackThresholds.Thresholds()
	}
	return pred, nil
}

// tryPrimary returns primary's valid answer, or why there is none.
func (f *fallbackModel) tryPrimary(ctx context.Context, in *Input) (Prediction, error) {
	pctx := ctx
	if d, ok := ctx.Deadline(); ok {
		if time.Until(d) <= FallbackReserve {
			return Prediction{}, ErrBudget
		}
		var cancel context.CancelFunc
		pctx, cancel = context.WithDeadline(ctx, d.Add(-FallbackReserve))
		defer cancel()
	}
	p, err := f.primary.Predict(pctx, *in)
	switch {
	case err != nil:
		return Prediction{}, err
	case !(p.Score >= 0 && p.Score <= 1):
		return Prediction{}, ErrInvalidPrediction
	}
	return p, nil
}
