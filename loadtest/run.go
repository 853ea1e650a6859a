package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Target sends one event. Send must be safe for concurrent use; it must
// not return before the outcome is known (an HTTP answer, a Kafka ack).
type Target interface {
	Send(ctx context.Context, ev *Event) Outcome
}

// A Finisher is a Target that keeps observing after the last send (Kafka
// mode waits for alerts). Run calls Finish once, after every send returned,
// to complete the report.
type Finisher interface {
	Finish(ctx context.Context, rep *Report) error
}

// DefaultSlack is how late past its due time a request may still start when
// every worker is busy. Past it the request is dropped, never queued: the
// schedule is never shifted.
const DefaultSlack = time.Millisecond

// Config configures Run.
type Config struct {
	Schedule Schedule
	// MaxInFlight bounds concurrent sends (workers, and connections);
	// default 256.
	MaxInFlight int
	// Slack is how long after its due time a request waits for a free
	// worker before it is dropped; default DefaultSlack.
	Slack time.Duration
	// Progress, when not nil, gets a live line every second.
	Progress io.Writer
	// Capacity, when > 0, is the capacity (requests per second) the
	// schedule's rates were written against (see ParseStagesOf). It is
	// only reported: each stage's rate as a multiple of it.
	Capacity float64
}

// Run drives target with events from src on cfg's open-loop schedule and
// returns the report. Request i is due at start + Schedule.Due(i), and is
// handed to a free worker as soon as it is due. When no worker is free it
// waits at most cfg.Slack past its due time, then counts as dropped: the
// schedule never waits for the server. Latency is measured from the due
// time, service time from the actual send.
//
// Cancelling ctx stops the schedule; sends in flight finish (bounded by
// the target's own timeouts) and the report covers the run so far, with
// Interrupted set. Run stops early when src runs out.
func Run(ctx context.Context, cfg Config, src Source, target Target) (*Report, error) {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	if cfg.Slack <= 0 {
		cfg.Slack = DefaultSlack
	}
	if len(cfg.Schedule) == 0 {
		return nil, errors.New("loadtest: empty schedule")
	}
	// Sends outlive an interrupt so that what was sent is reported.
	sendCtx := context.WithoutCancel(ctx)
	jobs := make(chan *Event) // unbuffered: a hand-off succeeds only to a free worker
	var rec *recorder         // set before the first hand-off
	var inflight atomic.Int64

	// The clock starts once every worker runs: the first requests must not
	// find the pool still starting and be dropped.
	var workers, ready sync.WaitGroup
	ready.Add(cfg.MaxInFlight)
	for range cfg.MaxInFlight {
		workers.Go(func() {
			ready.Done()
			for ev := range jobs {
				inflight.Add(1)
				sent := time.Now()
				out := target.Send(sendCtx, ev)
				done := time.Now()
				inflight.Add(-1)
				rec.record(ev, sent, done, out)
			}
		})
	}

	ready.Wait()
	start := time.Now()
	rec = newRecorder(start, cfg.Schedule)

	progCtx, stopProgress := context.WithCancel(context.Background())
	var progress sync.WaitGroup
	if cfg.Progress != nil {
		progress.Go(func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			var last int64
			for {
				select {
				case <-progCtx.Done():
					return
				case now := <-t.C:
					fmt.Fprintln(cfg.Progress, rec.progress(now, inflight.Load(), &last))
				}
			}
		})
	}

	offered, interrupted := dispatch(ctx, cfg, start, src, jobs, rec)
	var cut time.Duration // where the schedule was cut short, if it was
	if interrupted || offered < cfg.Schedule.Total() {
		cut = max(time.Since(start), 1)
	}
	close(jobs)
	workers.Wait()
	stopProgress()
	progress.Wait()

	rep := rec.report(offered, cfg.Schedule.Rate(), cut)
	rep.Schedule = cfg.Schedule.String()
	rep.Interrupted = interrupted
	rep.setNominalCapacity(cfg.Capacity)
	if f, ok := target.(Finisher); ok {
		if err := f.Finish(ctx, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// dispatch is the pacer loop. It returns how many requests were offered
// (sent or dropped) and whether ctx ended the run.
func dispatch(ctx context.Context, cfg Config, start time.Time, src Source, jobs chan<- *Event, rec *recorder) (int64, bool) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	wait := func(d time.Duration) bool {
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		}
	}
	var i int64
	for ; ; i++ {
		off, stage, ok := cfg.Schedule.due(i)
		if !ok {
			return i, false
		}
		due := start.Add(off)
		if d := time.Until(due); d > 0 && !wait(d) {
			return i, true
		}
		if ctx.Err() != nil {
			return i, true
		}
		ev, ok := src.Next()
		if !ok {
			return i, false
		}
		ev.Due, ev.stage = due, stage
		select {
		case jobs <- &ev: // a worker was free
			continue
		default:
		}
		// Every worker is busy: wait for one until due+slack, not longer.
		d := time.Until(due.Add(cfg.Slack))
		if d <= 0 {
			rec.drop(time.Now(), stage)
			continue
		}
		timer.Reset(d)
		select {
		case jobs <- &ev:
			timer.Stop() // since Go 1.23 no stale tick can follow a Stop
		case <-timer.C:
			rec.drop(time.Now(), stage)
		case <-ctx.Done():
			return i, true
		}
	}
}
