// Package scoring is the one pipeline behind both entry points: for a
// transaction it checks the seen-transactions index, updates and reads the
// card's velocity, runs rules and model under the deadline, and stores the
// result atomically with the velocity update.
package scoring

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/model"
	"github.com/fraudscore/scorer/velocity"
)

// Outbox turns an alerting result into entries written in the same Badger
// transaction as the result, so that an alert exists exactly when its
// result does. Committed is called with those entries once they are in
// Badger.
type Outbox interface {
	Entries(ctx context.Context, tx *fraud.Transaction, r *fraud.Result) ([]velocity.Entry, error)
	Committed(entries []velocity.Entry)
}

// Pipeline scores transactions. Its fields are set once before use.
type Pipeline struct {
	Store  *velocity.Store
	Engine *model.Engine
	// Budget bounds a scoring without a deadline of its own [2s].
	Budget time.Duration
	// Outbox, when set, receives every alerting result.
	Outbox Outbox
	engine atomic.Pointer[model.Engine] // set by SetEngine; Engine until then
	shadow atomic.Pointer[model.Engine]

	// Writable, when set, says whether state may be written now; its error
	// (the disk is nearly full, say) is returned before anything is
	// counted, so that the caller can refuse the transaction cleanly.
	Writable func() error

	ins instruments
}

// ErrNotWritable is returned (wrapping the cause) when state cannot be
// written now, refused by Writable before anything was counted or by the
// store's write gate at commit (its in-memory update then undone): nothing
// is stored, and the transaction can be retried once the cause is gone.
var ErrNotWritable = velocity.ErrNotWritable

// minRevise is the least time left for which a repeat of a provisional
// answer is worth scoring again: less, and the rules would answer alone
// once more.
const minRevise = 5 * time.Millisecond

// Score scores tx and returns the result and its JSON encoding. A
// transaction seen before returns the stored result with Duplicate set.
// Errors come only from the store (or ctx ending while a concurrent
// duplicate is in progress); a slow or failing model degrades the answer
// instead.
func (p *Pipeline) Score(ctx context.Context, tx *fraud.Transaction) (fraud.Result, []byte, error) {
	return p.ScoreStream(ctx, nil, tx)
}

// ScoreStream is Score with lateness judged against the stream time of st
// (one Kafka partition); nil means the instance's.
func (p *Pipeline) ScoreStream(ctx context.Context, st *velocity.Stream, tx *fraud.Transaction) (res fraud.Result, body []byte, err error) {
	start := time.Now()
	ctx, span := p.tracer().Start(ctx, "score")
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "scoring failed")
		} else {
			span.SetAttributes(attribute.String("scorer.decision", string(res.Decision)),
				attribute.Bool("scorer.duplicate", res.Duplicate), attribute.Bool("scorer.degraded", res.Degraded))
		}
		span.End()
	}()
	if _, ok := ctx.Deadline(); !ok {
		budget := p.Budget
		if budget <= 0 {
			budget = 2 * time.Second
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, budget)
		defer cancel()
	}
	if p.Writable != nil {
		if err := p.Writable(); err != nil {
			return fraud.Result{}, nil, fmt.Errorf("%w: %w", ErrNotWritable, err)
		}
	}
	_, vspan := p.tracer().Start(ctx, "velocity")
	op, err := p.Store.BeginStream(ctx, st, tx)
	vspan.End()
	if err != nil {
		return fraud.Result{}, nil, err
	}
	if op.Duplicate {
		if provisional(op.Stored) && remaining(ctx) >= minRevise {
			res, body, err = p.revise(ctx, tx)
		} else {
			res, body, err = p.duplicate(tx.ID, op.Stored)
		}
		if err == nil {
			p.record(ctx, start, &res, nil)
		}
		return res, body, err
	}
	// Whatever happens before Commit (a panic in a model, say), the claim
	// and the in-memory event must not outlive this call.
	committed := false
	defer func() {
		if !committed {
			op.Abort()
		}
	}()
	mctx, mspan := p.tracer().Start(ctx, "model")
	in := model.Input{Tx: tx, Features: op.Features}
	eng := p.activeEngine()
	out := eng.Score(mctx, in)
	mspan.End()
	p.scoreShadow(ctx, in, &out)
	var extra []velocity.Entry
	if res, extra, err = p.answer(ctx, tx, &out, op.Features, op.Late, nil); err != nil {
		return fraud.Result{}, nil, err
	}
	buf := make([]byte, 0, 768)
	stored := appendStored(buf, &res, p.Store.FeatureSetID())
	if out.RulesOnly {
		setProvisional(stored)
	}
	body = res.AppendJSON(stored[len(stored):])
	// The commit is not cancelled with ctx: once the velocity state counts
	// the event, storing it is what keeps memory and Badger in step.
	committed = true
	cctx, cspan := p.tracer().Start(context.WithoutCancel(ctx), "commit")
	err = op.Commit(cctx, stored, extra...)
	cspan.End()
	if err != nil {
		return fraud.Result{}, nil, err
	}
	if len(extra) > 0 {
		p.Outbox.Committed(extra)
	}
	p.record(ctx, start, &res, &out)
	return res, body, nil
}

// duplicate turns a stored result into the answer for a repeat.
func (p *Pipeline) duplicate(id string, stored []byte) (fraud.Result, []byte, error) {
	r, err := decodeStored(stored, id, p.Store.FeatureNames)
	if err != nil {
		return fraud.Result{}, nil, fmt.Errorf("scoring: %s: %w", id, err)
	}
	r.Duplicate = true
	return r, r.AppendJSON(make([]byte, 0, 512)), nil
}

// answer builds the result of the engine's output for tx and, when its
// decision alerts and no alert was raised before, the outbox entries of its
// alert. prev, when set, is the stored result being revised: its alert
// stands, and the decision does not drop below its own.
func (p *Pipeline) answer(ctx context.Context, tx *fraud.Transaction, out *model.Output, features fraud.Features,
	late bool, prev *fraud.Result) (fraud.Result, []velocity.Entry, error) {
	res := fraud.Result{
		TransactionID: tx.ID,
		Score:         out.Score,
		Decision:      out.Decision,
		Reasons:       out.Reasons,
		Features:      features,
		ModelVersion:  out.ModelVersion,
		Degraded:      out.Degraded,
		Late:          late,
	}
	if prev != nil {
		res.Decision = prev.Decision.Max(res.Decision)
		res.AlertID = prev.AlertID
	}
	if res.Reasons == nil {
		res.Reasons = []fraud.Reason{}
	}
	if !res.Decision.Alerting() || res.AlertID != "" {
		return res, nil, nil
	}
	res.AlertID = fraud.AlertID(tx.ID)
	if p.Outbox == nil {
		return res, nil, nil
	}
	extra, err := p.Outbox.Entries(ctx, tx, &res)
	if err != nil {
		return fraud.Result{}, nil, fmt.Errorf("scoring: outbox: %w", err)
	}
	return res, extra, nil
}

// remaining is the time left before ctx's deadline; a long time when none.
func remaining(ctx context.Context) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Hour
	}
	return time.Until(d)
}

// revise scores again a transaction whose stored answer is provisional
// (the rules' alone: no model answered in time) and, when the model
// answers now, stores the full answer in its place. Nothing is counted
// again: the features are the stored ones, as of the first arrival. An
// alert, once raised, stands, so the decision never drops below the stored
// one; a decision that alerts now raises the one alert of the transaction.
// If the model again cannot answer, the stored answer is returned as is.
func (p *Pipeline) revise(ctx context.Context, tx *fraud.Transaction) (fraud.Result, []byte, error) {
	rev, err := p.Store.Revise(ctx, tx)
	if err != nil {
		return fraud.Result{}, nil, err
	}
	if rev == nil {
		// Gone from the index since the repeat was read: nothing to revise.
		return fraud.Result{}, nil, fmt.Errorf("scoring: %s: stored result expired while revising", tx.ID)
	}
	old, err := decodeStored(rev.Stored, tx.ID, p.Store.FeatureNames)
	if err != nil || !provisional(rev.Stored) {
		rev.Abort()
		if err != nil {
			return fraud.Result{}, nil, fmt.Errorf("scoring: %s: %w", tx.ID, err)
		}
		old.Duplicate = true
		return old, old.AppendJSON(make([]byte, 0, 512)), nil
	}
	mctx, mspan := p.tracer().Start(ctx, "model")
	out := p.activeEngine().Score(mctx, model.Input{Tx: tx, Features: old.Features})
	mspan.End()
	if out.RulesOnly {
		rev.Abort()
		old.Duplicate = true
		return old, old.AppendJSON(make([]byte, 0, 512)), nil
	}
	res, extra, err := p.answer(ctx, tx, &out, old.Features, old.Late, &old)
	if err != nil {
		rev.Abort()
		return fraud.Result{}, nil, err
	}
	stored := appendStored(make([]byte, 0, 768), &res, p.Store.FeatureSetID())
	if err := rev.Commit(context.WithoutCancel(ctx), stored, extra...); err != nil {
		return fraud.Result{}, nil, err
	}
	if len(extra) > 0 {
		p.Outbox.Committed(extra)
	}
	res.Duplicate = true
	return res, res.AppendJSON(make([]byte, 0, 768)), nil
}

// Lookup returns the stored result of a transaction_id and its JSON, and
// false when it is not stored (never seen, or its retention ended).
func (p *Pipeline) Lookup(id string) (fraud.Result, []byte, bool, error) {
	stored, ok, err := p.Store.Lookup(id)
	if err != nil || !ok {
		return fraud.Result{}, nil, false, err
	}
	r, err := decodeStored(stored, id, p.Store.FeatureNames)
	if err != nil {
		return fraud.Result{}, nil, false, fmt.Errorf("scoring: %s: %w", id, err)
	}
	return r, r.AppendJSON(make([]byte, 0, 512)), true, nil
}

// SetEngine swaps in another engine (rules and model): scorings already
// past choosing theirs finish with the old one, the next ones use e.
func (p *Pipeline) SetEngine(e *model.Engine) { p.engine.Store(e) }

// SetShadow makes every scoring run a challenger engine too, after the
// answer is decided: its score and decision never change the answer, they
// are only compared in metrics (scorer.shadow.*). nil stops it.
func (p *Pipeline) SetShadow(e *model.Engine) { p.shadow.Store(e) }

func (p *Pipeline) activeEngine() *model.Engine {
	if e := p.engine.Load(); e != nil {
		return e
	}
	return p.Engine
}

// ModelVersion is the version of the active model.
func (p *Pipeline) ModelVersion() string { return p.activeEngine().Version() }

// scoreShadow scores in with the shadow engine, if any, and records how it
// compares with out.
func (p *Pipeline) scoreShadow(ctx context.Context, in model.Input, out *model.Output) {
	sh := p.shadow.Load()
	if sh == nil || p.ins.shadowAgree == nil {
		return
	}
	so := sh.Score(ctx, in)
	agree := "true"
	if so.Decision != out.Decision {
		agree = "false"
	}
	p.ins.shadowAgree.Add(ctx, 1, p.ins.attrs.get("agree", agree))
	p.ins.shadowShift.Record(ctx, so.Score-out.Score)
}
