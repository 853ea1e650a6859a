package model

import (
	"context"
	"errors"
	"time"

	"github.com/fraudscore/scorer/fraud"
)

// Causes of a degraded Output besides the model's own error and ctx.Err().
var (
	ErrNoModel           = errors.New("model: no model configured")
	ErrBudget            = errors.New("model: deadline nearer than the engine's reserve")
	ErrInvalidPrediction = errors.New("model: prediction score is not in [0,1]")
)

// DefaultReserve is the Reserve used when Options.Reserve is zero. It is
// what the answer needs after the model: the rules, and the durable group
// commit of the result, which takes a few milliseconds under load (2 ms
// was seen to leave a slow model's fallback past the deadline).
const DefaultReserve = 10 * time.Millisecond

// Options configure an Engine.
type Options struct {
	// Reserve is the time the engine keeps for itself before the deadline:
	// when less than Reserve remains, the model is skipped and the answer
	// comes from rules alone (degraded). A model other than *Logistic is
	// called with its deadline moved Reserve earlier. Zero means
	// DefaultReserve; a negative value means no reserve.
	Reserve time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Engine combines rules and a model into a decision under a deadline. It
// is safe for concurrent use.
type Engine struct {
	rules     *Rules
	model     Model
	logistic  *Logistic   // model, when it is an in-process *Logistic
	trees     *Trees      // model, when it is an in-process *Trees
	local     bool        // one of them is set
	threshold Thresholder // model, when it has thresholds
	reserve   time.Duration
	now       func() time.Time
}

// Output is the engine's answer for one transaction.
type Output struct {
	// Score is in [0,1]: the model score raised to at least the score of
	// every matching rule; when degraded, the highest matching rule score,
	// or 0.
	Score float64
	// Decision is the model's decision raised by every matching rule; when
	// degraded, the most severe matching rule decision, or approve.
	Decision fraud.Decision
	// Reasons are the matching rules (most severe, then highest score,
	// first), then the model's reasons, each code once; an approval has
	// none. Never nil.
	Reasons []fraud.Reason
	// ModelVersion is the version of the model that answered (a fallback
	// model's when one answered, see WithFallback), or when the rules
	// answered alone the rules' version: they are then the whole of the
	// scoring logic.
	ModelVersion string
	// Degraded is true when the answer came from the rules alone or from a
	// fallback model (Prediction.Degraded).
	Degraded bool
	// RulesOnly is true when no model answered at all (the budget ran out,
	// or the model failed with no fallback): the answer is the rules'
	// alone, a provisional one that a retry with time to spare can improve.
	RulesOnly bool
	// Cause says why the answer is degraded: ErrNoModel, ErrBudget,
	// ErrInvalidPrediction, ctx.Err() or the model's error; with a fallback
	// model, the primary model's error (ErrFallback when the model did not
	// say). It is for logs and metrics, not for clients.
	Cause error
}

// NewEngine returns an Engine over r and m. m may be nil: every answer is
// then degraded. r must not be nil.
func NewEngine(r *Rules, m Model, opt Options) *Engine {
	if r == nil {
		panic("model: NewEngine with nil rules")
	}
	switch l := m.(type) {
	case *Logistic:
		if l == nil {
			m = nil
		}
	case *Trees:
		if l == nil {
			m = nil
		}
	}
	e := &Engine{rules: r, model: m, reserve: opt.Reserve, now: opt.Now}
	if e.reserve == 0 {
		e.reserve = DefaultReserve
	}
	if e.reserve < 0 {
		e.reserve = 0
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.logistic, _ = m.(*Logistic)
	e.trees, _ = m.(*Trees)
	e.local = e.logistic != nil || e.trees != nil
	e.threshold, _ = m.(Thresholder)
	return e
}

// Version is the version of the engine's model, or of its rules when it
// has none.
func (e *Engine) Version() string {
	if e.model != nil {
		return e.model.Version()
	}
	return e.rules.version
}

// maxLocalFeatures bounds the stack buffer for an in-process model; a
// larger model still works, with one more allocation.
const maxLocalFeatures = 32

// Score never fails: it returns the combined output. When the model errs,
// is nil, or the ctx deadline is nearer than Reserve (or ctx is done), the
// output comes from the rules alone with Degraded true. When the model
// answers with a Degraded prediction (a fallback model's, see WithFallback),
// the output is that model's answer, raised by the rules, with Degraded
// true.
func (e *Engine) Score(ctx context.Context, in Input) Output {
	var mbuf [32]int32
	matched := e.rules.match(&in, mbuf[:0])

	if e.model == nil {
		return e.fallback(matched, ErrNoModel)
	}
	if err := ctx.Err(); err != nil {
		return e.fallback(matched, err)
	}
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline && deadline.Sub(e.now()) < e.reserve {
		return e.fallback(matched, ErrBudget)
	}

	var (
		cbuf  [maxLocalFeatures]Contribution
		pred  Prediction // what answered
		mpred Prediction // from Model.Predict: kept apart so that cbuf stays on the stack
		err   error
	)
	switch {
	// In-process models are called by their concrete type, so that cbuf
	// does not escape through an interface call.
	case e.logistic != nil && e.logistic.numVars() <= len(cbuf):
		pred = e.logistic.predict(&in, cbuf[:e.logistic.numVars()])
	case e.trees != nil && e.trees.numVars() <= len(cbuf):
		pred = e.trees.predict(&in, cbuf[:e.trees.numVars()])
	case e.local || !hasDeadline:
		mpred, err = e.model.Predict(ctx, in)
		pred = mpred
	default:
		mctx, cancel := context.WithDeadline(ctx, deadline.Add(-e.reserve))
		mpred, err = e.model.Predict(mctx, in)
		pred = mpred
		cancel()
	}
	if err != nil {
		return e.fallback(matched, err)
	}
	if !(pred.Score >= 0 && pred.Score <= 1) {
		return e.fallback(matched, ErrInvalidPrediction)
	}

	th := defaultThresholds
	switch {
	case mpred.thresholds.Review > 0:
		th = mpred.thresholds
	case e.threshold != nil:
		th = e.threshold.Thresholds()
	}
	out := Output{
		Score:        pred.Score,
		Decision:     th.Decide(pred.Score),
		ModelVersion: mpred.version,
	}
	if out.ModelVersion == "" {
		out.ModelVersion = e.model.Version()
	}
	if mpred.Degraded {
		out.Degraded, out.Cause = true, mpred.cause
		if out.Cause == nil {
			out.Cause = ErrFallback
		}
	}
	e.raise(&out, matched)
	n := min(max(pred.NumReasons, 0), len(pred.Contributions))
	if out.Decision == fraud.Approve {
		// Reasons explain a review or a decline. An approval has none:
		// the features that pushed a score of 0.0001 up are noise to an
		// analyst.
		n = 0
	}
	out.Reasons = e.reasons(matched, pred.Contributions[:n])
	return out
}

// fallback is the rules-only answer.
func (e *Engine) fallback(matched []int32, cause error) Output {
	out := Output{
		Decision:     fraud.Approve,
		ModelVersion: e.rules.version,
		Degraded:     true,
		RulesOnly:    true,
		Cause:        cause,
	}
	e.raise(&out, matched)
	out.Reasons = e.reasons(matched, nil)
	return out
}

// raise lifts out's score and decision to those of the matching rules.
func (e *Engine) raise(out *Output, matched []int32) {
	for _, i := range matched {
		rl := &e.rules.rules[i]
		out.Score = max(out.Score, rl.score)
		out.Decision = out.Decision.Max(rl.decision)
	}
}

// reasons lists the matching rules, then the model's reasons, each code
// once. It makes the only allocation of a non-degraded Score.
func (e *Engine) reasons(matched []int32, model []Contribution) []fraud.Reason {
	out := make([]fraud.Reason, 0, len(matched)+len(model))
	for _, i := range matched {
		rl := &e.rules.rules[i]
		if !hasCode(out, rl.code) {
			out = append(out, fraud.Reason{Code: rl.code, Message: rl.message})
		}
	}
	for i := range model {
		c := &model[i]
		if c.Code != "" && !hasCode(out, c.Code) {
			out = append(out, fraud.Reason{Code: c.Code, Message: c.Message})
		}
	}
	return out
}

func hasCode(rs []fraud.Reason, code string) bool {
	for i := range rs {
		if rs[i].Code == code {
			return true
		}
	}
	return false
}
