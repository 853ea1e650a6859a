package scoring

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/model"
)

// instruments are the pipeline's spans and metrics; the zero value (no
// Instrument call) records nothing.
type instruments struct {
	tracer    trace.Tracer
	decisions metric.Int64Counter
	reasons   metric.Int64Counter
	degraded  metric.Int64Counter
	late      metric.Int64Counter
	dups      metric.Int64Counter
	duration  metric.Float64Histogram
	attrs     *attrSets
	// shadow model comparisons
	shadowAgree metric.Int64Counter
	shadowShift metric.Float64Histogram
}

// Instrument makes the pipeline record spans for its stages (velocity,
// model, commit) and metrics: decisions by outcome, reasons by code,
// degraded answers by cause, late events, duplicates and scoring time.
func (p *Pipeline) Instrument(tp trace.TracerProvider, mp metric.MeterProvider) error {
	m := mp.Meter("github.com/fraudscore/scorer/scoring")
	var in instruments
	var err error
	in.tracer = tp.Tracer("github.com/fraudscore/scorer/scoring")
	in.attrs = &attrSets{}
	if in.decisions, err = m.Int64Counter("scorer.decisions", metric.WithUnit("{decision}"),
		metric.WithDescription("Scored transactions by decision and source.")); err != nil {
		return err
	}
	if in.reasons, err = m.Int64Counter("scorer.reasons", metric.WithUnit("{reason}"),
		metric.WithDescription("Reason codes given, by code.")); err != nil {
		return err
	}
	if in.degraded, err = m.Int64Counter("scorer.degraded", metric.WithUnit("{decision}"),
		metric.WithDescription("Answers from the fallback, by cause.")); err != nil {
		return err
	}
	if in.late, err = m.Int64Counter("scorer.late", metric.WithUnit("{transaction}"),
		metric.WithDescription("Transactions older than the watermark.")); err != nil {
		return err
	}
	if in.dups, err = m.Int64Counter("scorer.duplicates", metric.WithUnit("{transaction}"),
		metric.WithDescription("Transactions seen before, answered from the stored result.")); err != nil {
		return err
	}
	if in.duration, err = m.Float64Histogram("scorer.scoring.duration", metric.WithUnit("s"),
		metric.WithDescription("Time to score a transaction, store included."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2)); err != nil {
		return err
	}
	if in.shadowAgree, err = m.Int64Counter("scorer.shadow.decisions", metric.WithUnit("{decision}"),
		metric.WithDescription("Scorings by the shadow model, by whether its decision agreed with the answer's.")); err != nil {
		return err
	}
	if in.shadowShift, err = m.Float64Histogram("scorer.shadow.score_shift", metric.WithUnit("1"),
		metric.WithDescription("The shadow model's score minus the answer's."),
		metric.WithExplicitBucketBoundaries(-0.5, -0.2, -0.1, -0.05, -0.01, 0, 0.01, 0.05, 0.1, 0.2, 0.5)); err != nil {
		return err
	}
	p.ins = in
	return nil
}

func (p *Pipeline) tracer() trace.Tracer {
	if p.ins.tracer == nil {
		return noopTracer
	}
	return p.ins.tracer
}

var noopTracer = noop.NewTracerProvider().Tracer("")

// Source names the entry point in metrics.
type sourceKey struct{}

// WithSource marks ctx as coming from an entry point ("http", "kafka").
func WithSource(ctx context.Context, source string) context.Context {
	return context.WithValue(ctx, sourceKey{}, source)
}

func source(ctx context.Context) string {
	if s, ok := ctx.Value(sourceKey{}).(string); ok {
		return s
	}
	return "other"
}

func (p *Pipeline) record(ctx context.Context, start time.Time, res *fraud.Result, out *model.Output) {
	if p.ins.decisions == nil {
		return
	}
	src := p.ins.attrs.get("source", source(ctx))
	if res.Duplicate {
		p.ins.dups.Add(ctx, 1, src)
		return
	}
	p.ins.decisions.Add(ctx, 1, p.ins.attrs.get2("decision", string(res.Decision), "source", source(ctx)))
	for _, r := range res.Reasons {
		p.ins.reasons.Add(ctx, 1, p.ins.attrs.get("code", r.Code))
	}
	if res.Degraded {
		cause := "unknown"
		if out != nil && out.Cause != nil {
			cause = causeName(out.Cause)
		}
		p.ins.degraded.Add(ctx, 1, p.ins.attrs.get("cause", cause))
	}
	if res.Late {
		p.ins.late.Add(ctx, 1, src)
	}
	p.ins.duration.Record(ctx, time.Since(start).Seconds(), src)
}

// attrSets caches the attribute sets of the metrics: building one (a sort,
// a hash, allocations) for every scoring was 9% of the service's CPU. The
// values come from small closed sets (sources, decisions, reason codes,
// causes), so the cache stays small; a lookup allocates nothing.
type attrSets struct {
	mu  sync.RWMutex
	one map[string]map[string]attrMeasure       // key -> value
	two map[[2]string]map[[2]string]attrMeasure // keys -> values
}

type attrMeasure interface {
	metric.AddOption
	metric.RecordOption
}

func (c *attrSets) get(k, v string) attrMeasure {
	c.mu.RLock()
	o, ok := c.one[k][v]
	c.mu.RUnlock()
	if ok {
		return o
	}
	o = metric.WithAttributeSet(attribute.NewSet(attribute.String(k, v)))
	c.mu.Lock()
	if c.one == nil {
		c.one = map[string]map[string]attrMeasure{}
	}
	if c.one[k] == nil {
		c.one[k] = map[string]attrMeasure{}
	}
	c.one[k][v] = o
	c.mu.Unlock()
	return o
}

func (c *attrSets) get2(k1, v1, k2, v2 string) attrMeasure {
	ks, vs := [2]string{k1, k2}, [2]string{v1, v2}
	c.mu.RLock()
	o, ok := c.two[ks][vs]
	c.mu.RUnlock()
	if ok {
		return o
	}
	o = metric.WithAttributeSet(attribute.NewSet(attribute.String(k1, v1), attribute.String(k2, v2)))
	c.mu.Lock()
	if c.two == nil {
		c.two = map[[2]string]map[[2]string]attrMeasure{}
	}
	if c.two[ks] == nil {
		c.two[ks] = map[[2]string]attrMeasure{}
	}
	c.two[ks][vs] = o
	c.mu.Unlock()
	return o
}

// causeName is a low-cardinality label for why an answer was degraded.
func causeName(err error) string {
	switch {
	case errors.Is(err, model.ErrBudget), errors.Is(err, context.DeadlineExceeded):
		return "budget"
	case errors.Is(err, model.ErrBusy):
		return "model_busy"
	case errors.Is(err, model.ErrNoModel):
		return "no_model"
	case errors.Is(err, model.ErrInvalidPrediction):
		return "invalid_prediction"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case strings.Contains(err.Error(), "circuit breaker is open"):
		return "breaker_open"
	default:
		return "model_error"
	}
}
