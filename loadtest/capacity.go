package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Defaults of CapacityConfig.
const (
	DefaultStartRate    = 500.0
	DefaultMaxRate      = 100000.0
	DefaultStepDuration = 5 * time.Second
	DefaultSettle       = 2 * time.Second
	// DefaultCapacityErrorRate bounds (shed + errors + dropped) / offered
	// when no bound is given: a search needs one, where a plain run's
	// --max-error-rate is off by default.
	DefaultCapacityErrorRate = 0.001
	// DefaultMaxSteps bounds a search: from 500/s, growing by half per
	// step, 12 steps reach 43000/s, or find a capacity of 5000/s within 5%;
	// the rest is room for the retries of failing steps.
	DefaultMaxSteps = 20
	// DefaultRetries: a failing step is run once more at its rate before
	// the rate counts as failing. A service with background work (the
	// scorer's Badger flushes every 10-20 s) fails a 5 s step that catches
	// a burst at a rate it sustains; one unlucky step must not halve the
	// answer.
	DefaultRetries = 1
)

const (
	capacityGrowth    = 1.5  // the rate grows by half while steps pass
	capacityPrecision = 0.05 // bisection stops when fail - pass <= 5% of pass
)

// CapacityConfig configures FindCapacity. Zero values take the defaults
// above.
type CapacityConfig struct {
	// MaxP99 is the latency budget: a step passes only when the p99 of its
	// successful answers (admitted latency, from the due time) is at most
	// MaxP99. Required.
	MaxP99 time.Duration
	// MaxErrorRate bounds (shed + errors + dropped) / offered for a step to
	// pass: 0 allows none; >= 1 or < 0 (off in a plain run) means
	// DefaultCapacityErrorRate.
	MaxErrorRate float64
	// StartRate is the first offered rate (requests per second); MaxRate
	// the highest the search offers.
	StartRate, MaxRate float64
	// StepDuration is how long each step offers its rate.
	StepDuration time.Duration
	// Settle is how long the search waits, sending nothing, before each
	// step, so that the queue a failed step left does not bleed into the
	// next; negative for no wait.
	Settle time.Duration
	// MaxSteps bounds the number of steps.
	MaxSteps int
	// Retries is how many times a failing step is run again at its rate
	// before the rate counts as failing: it fails only if every try does
	// [DefaultRetries; negative for none].
	Retries int
	// MaxInFlight and Slack are as in Config, for every step.
	MaxInFlight int
	Slack       time.Duration
	// Progress, when not nil, gets each step's live line every second.
	Progress io.Writer
	// Out, when not nil, gets the curve as it goes: a header, then a line
	// per step.
	Out io.Writer
}

func (c *CapacityConfig) defaults() error {
	if c.MaxP99 <= 0 {
		return errors.New("loadtest: a capacity search needs a latency budget (--max-p99)")
	}
	if c.MaxErrorRate < 0 || c.MaxErrorRate >= 1 {
		c.MaxErrorRate = DefaultCapacityErrorRate
	}
	if c.StartRate <= 0 {
		c.StartRate = DefaultStartRate
	}
	if c.MaxRate <= 0 {
		c.MaxRate = DefaultMaxRate
	}
	if c.StartRate > c.MaxRate {
		return fmt.Errorf("loadtest: start rate %g/s is above the max rate %g/s", c.StartRate, c.MaxRate)
	}
	if c.StepDuration <= 0 {
		c.StepDuration = DefaultStepDuration
	}
	if c.Settle == 0 {
		c.Settle = DefaultSettle
	}
	if c.MaxSteps <= 0 {
		c.MaxSteps = DefaultMaxSteps
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	c.Retries = max(c.Retries, 0)
	return nil
}

// CapacityStep is one step of a capacity search.
type CapacityStep struct {
	Step  int    `json:"step"`  // 1-based
	Phase string `json:"phase"` // "grow", "bisect" or "retry" (the same rate again)
	// Retried says this step failed and its rate was run again: the
	// rate's verdict is the last try's.
	Retried bool `json:"retried,omitempty"`
	// Offered is the offered rate, requests per second.
	Offered  float64 `json:"offered"`
	Requests int64   `json:"requests"`
	OK       int64   `json:"ok"`
	// Goodput is OK per second of the step.
	Goodput float64 `json:"goodput"`
	Shed    int64   `json:"shed"`
	ShedPct float64 `json:"shed_pct"` // of Requests
	Errors  int64   `json:"errors"`
	Dropped int64   `json:"dropped"`
	// ErrorRate is (Shed + Errors + Dropped) / Requests: what the search
	// bounds by MaxErrorRate.
	ErrorRate float64 `json:"error_rate"`
	// OKLatency is the admitted latency (successful answers, from the due
	// time): its p99 is what the search bounds by MaxP99. P99Ms is the p99
	// of every answer, for comparison.
	OKLatency Percentiles `json:"ok_latency_ms"`
	P99Ms     float64     `json:"p99_ms"`
	Pass      bool        `json:"pass"`
	// Why says what failed a step.
	Why string `json:"why,omitempty"`
}

// CapacityReport is the outcome of FindCapacity: the curve and the answer.
type CapacityReport struct {
	// Rate is the capacity found: the highest offered rate (requests per
	// second) whose step passed; 0 when even the start rate failed.
	Rate float64 `json:"rate"`
	// MaxP99Ms and MaxErrorRate are the criteria the steps were judged by.
	MaxP99Ms     float64 `json:"max_p99_ms"`
	MaxErrorRate float64 `json:"max_error_rate"`
	// FailRate is the lowest failing rate above Rate, 0 when none failed.
	FailRate float64 `json:"fail_rate,omitempty"`
	// Converged is true when Rate and FailRate are within 5% of Rate (or
	// as close as whole requests per second allow).
	Converged bool `json:"converged"`
	// Stop says why the search stopped.
	Stop          string  `json:"stop"`
	StepDurationS float64 `json:"step_duration_s"`
	SettleS       float64 `json:"settle_s"`
	Interrupted   bool    `json:"interrupted,omitempty"`
	// Steps are in the order they ran.
	Steps []CapacityStep `json:"steps"`
	// Report is the full report of the highest passing step (of the first
	// step when none passed); nil when no step ran to its end.
	Report *Report `json:"-"`
}

// Found reports whether some rate passed.
func (c *CapacityReport) Found() bool { return c.Rate > 0 }

// FindCapacity searches, open loop, for the highest offered rate at which
// target keeps the p99 of its successful answers within cfg.MaxP99 and
// (shed + errors + dropped) / offered within cfg.MaxErrorRate.
//
// Each step runs Run for cfg.StepDuration at one rate, with a fresh source
// from newSource (closed after the step when it is an io.Closer), after
// waiting cfg.Settle. The rate starts at cfg.StartRate and grows by half
// while steps pass, up to cfg.MaxRate; a failing step is run again at its
// rate, cfg.Retries times, and its rate fails only if every try does;
// after the first failure it bisects
// between the highest passing and the lowest failing rate until they are
// within 5%. The search runs at most cfg.MaxSteps steps; the report's Stop
// says why it ended.
//
// A target that is a Finisher (Kafka) cannot run more than once and is
// refused. Cancelling ctx ends the search with the steps so far and
// ctx's error. A source that runs out before a step's end is an error.
func FindCapacity(ctx context.Context, cfg CapacityConfig, newSource func() (Source, error), target Target) (*CapacityReport, error) {
	if _, ok := target.(Finisher); ok {
		return nil, errors.New("loadtest: a capacity search runs many steps; this target finishes after one (use HTTP)")
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	step := func(ctx context.Context, rate float64) (*Report, error) {
		src, err := newSource()
		if err != nil {
			return nil, err
		}
		if c, ok := src.(io.Closer); ok {
			defer c.Close()
		}
		sched := Schedule{{Duration: cfg.StepDuration, Rate: rate}}
		rep, err := Run(ctx, Config{Schedule: sched, MaxInFlight: cfg.MaxInFlight, Slack: cfg.Slack, Progress: cfg.Progress}, src, target)
		if err != nil || rep.Interrupted {
			return rep, err
		}
		if e, ok := src.(interface{ Err() error }); ok && e.Err() != nil {
			return rep, e.Err() // a replayed log's bad line
		}
		if rep.Requests < sched.Total() {
			return rep, fmt.Errorf("loadtest: the source ran out after %d of the %d requests of a step at %g/s", rep.Requests, sched.Total(), rate)
		}
		return rep, nil
	}
	return search(ctx, cfg, step)
}

// search is the procedure of FindCapacity, with the step as a function.
// cfg has its defaults.
func search(ctx context.Context, cfg CapacityConfig, step func(context.Context, float64) (*Report, error)) (*CapacityReport, error) {
	out := &CapacityReport{
		MaxP99Ms:      float64(cfg.MaxP99) / float64(time.Millisecond),
		MaxErrorRate:  cfg.MaxErrorRate,
		StepDurationS: cfg.StepDuration.Seconds(),
		SettleS:       max(cfg.Settle, 0).Seconds(),
		Steps:         []CapacityStep{},
	}
	if cfg.Out != nil {
		fmt.Fprintln(cfg.Out, capacityHeader)
	}
	var lo, hi float64 // the highest passing and the lowest failing rate
	rate := roundRate(cfg.StartRate)
	tries := 0 // retries spent at rate
	for {
		if len(out.Steps) == cfg.MaxSteps {
			out.Stop = fmt.Sprintf("the step budget (%d steps) ran out", cfg.MaxSteps)
			break
		}
		if cfg.Settle > 0 && !waitCtx(ctx, cfg.Settle) {
			out.Interrupted, out.Stop = true, "interrupted"
			return out, ctx.Err()
		}
		rep, err := step(ctx, rate)
		if rep != nil && rep.Interrupted {
			out.Interrupted, out.Stop = true, "interrupted"
			return out, ctx.Err()
		}
		if err != nil {
			out.Stop = err.Error()
			return out, err
		}
		s := judge(cfg, rep, rate)
		s.Step = len(out.Steps) + 1
		s.Phase = "grow"
		if hi > 0 {
			s.Phase = "bisect"
		}
		if tries > 0 {
			s.Phase = "retry"
		}
		s.Retried = !s.Pass && tries < cfg.Retries
		out.Steps = append(out.Steps, s)
		if cfg.Out != nil {
			fmt.Fprintln(cfg.Out, s.row())
		}
		if s.Retried {
			tries++
			if out.Report == nil {
				out.Report = rep
			}
			continue
		}
		tries = 0
		if s.Pass {
			lo, out.Report = rate, rep
		} else {
			hi = rate
			if out.Report == nil {
				out.Report = rep
			}
		}
		out.Rate, out.FailRate = lo, hi // also when a later step is interrupted
		if lo == 0 {
			out.Stop = "the start rate failed"
			break
		}
		if hi == 0 { // growing
			if rate >= cfg.MaxRate {
				out.Stop = "the max rate passed"
				break
			}
			rate = min(max(roundRate(rate*capacityGrowth), rate+1), cfg.MaxRate)
			continue
		}
		next := roundRate((lo + hi) / 2)
		if hi-lo <= capacityPrecision*lo || next <= lo || next >= hi {
			out.Converged = true
			out.Stop = "converged"
			break
		}
		rate = next
	}
	return out, nil
}

// roundRate rounds a rate to whole requests per second, at least 1.
func roundRate(r float64) float64 { return max(math.Round(r), 1) }

// judge turns a step's report into a point of the curve.
func judge(cfg CapacityConfig, rep *Report, rate float64) CapacityStep {
	s := CapacityStep{
		Offered:   rate,
		Requests:  rep.Requests,
		OK:        rep.Successes,
		Shed:      rep.Shed,
		Errors:    rep.Errors,
		Dropped:   rep.Dropped,
		OKLatency: rep.OKLatency,
		P99Ms:     rep.Latency.P99,
	}
	if d := cfg.StepDuration.Seconds(); d > 0 {
		s.Goodput = float64(s.OK) / d
	}
	if s.Requests > 0 {
		s.ShedPct = 100 * float64(s.Shed) / float64(s.Requests)
		s.ErrorRate = float64(s.Shed+s.Errors+s.Dropped) / float64(s.Requests)
	}
	var why []string
	if s.OK == 0 {
		why = append(why, "no successful answer")
	} else if p99 := time.Duration(s.OKLatency.P99 * float64(time.Millisecond)); p99 > cfg.MaxP99 {
		why = append(why, fmt.Sprintf("admitted p99 %s > %s", fmtMs(s.OKLatency.P99), fmtMs(float64(cfg.MaxP99)/float64(time.Millisecond))))
	}
	if s.ErrorRate > cfg.MaxErrorRate {
		why = append(why, fmt.Sprintf("errors+sheds+drops %s > %s", fmtPct(s.ErrorRate), fmtPct(cfg.MaxErrorRate)))
	}
	if len(why) > 0 && s.Dropped > 0 && s.Dropped >= s.Shed+s.Errors {
		why = append(why, "mostly dropped: the client's --max-inflight may be the limit")
	}
	s.Pass = len(why) == 0
	s.Why = strings.Join(why, "; ")
	return s
}

// fmtPct formats a fraction as a percentage with as many digits as it needs.
func fmtPct(f float64) string {
	return strconv.FormatFloat(math.Round(f*100*1000)/1000, 'f', -1, 64) + "%"
}

const capacityHeader = "step  phase     offered    goodput  shed %  errors  dropped    ok p50    ok p99    ok max  result"

// row is the step's line of the curve, under capacityHeader.
func (s CapacityStep) row() string {
	result := "pass"
	if !s.Pass {
		result = "FAIL: " + s.Why
	}
	if s.Retried {
		result += " (trying again)"
	}
	return fmt.Sprintf("%4d  %-6s %8.0f/s %8.0f/s %7.2f %7d %8d  %8s  %8s  %8s  %s",
		s.Step, s.Phase, s.Offered, s.Goodput, s.ShedPct, s.Errors, s.Dropped,
		fmtMs(s.OKLatency.P50), fmtMs(s.OKLatency.P99), fmtMs(s.OKLatency.Max), result)
}

// Answer is the one-line result:
// "capacity = N/s at p99 ≤ X (errors+sheds+drops ≤ Y%)", with what
// qualifies it.
func (c *CapacityReport) Answer() string {
	crit := fmt.Sprintf("at p99 ≤ %s (errors+sheds+drops ≤ %s)", fmtMs(c.MaxP99Ms), fmtPct(c.MaxErrorRate))
	switch {
	case c.Interrupted && c.Rate == 0:
		return "capacity not found: the search was interrupted before a step passed"
	case c.Interrupted:
		return fmt.Sprintf("capacity ≥ %.0f/s %s: the search was interrupted", c.Rate, crit)
	case c.Rate == 0 && len(c.Steps) > 0:
		return fmt.Sprintf("capacity not found: even the start rate %.0f/s fails %s: %s", c.Steps[0].Offered, crit, c.Steps[0].Why)
	case c.Rate == 0:
		return "capacity not found: no step ran"
	case c.FailRate == 0 && c.Stop == "the max rate passed":
		return fmt.Sprintf("capacity ≥ %.0f/s %s: the max rate passed; raise --max-rate", c.Rate, crit)
	case c.FailRate == 0:
		return fmt.Sprintf("capacity ≥ %.0f/s %s: %s before a step failed; raise --start-rate or --max-steps", c.Rate, crit, c.Stop)
	case !c.Converged:
		return fmt.Sprintf("capacity = %.0f/s %s, below %.0f/s: %s before the two were within 5%%", c.Rate, crit, c.FailRate, c.Stop)
	default:
		return fmt.Sprintf("capacity = %.0f/s %s", c.Rate, crit)
	}
}

// waitCtx waits d, false when ctx ends first.
func waitCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
