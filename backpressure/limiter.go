package backpressure

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Reasons a request is shed, as returned by ShedReason and counted in
// Stats.ShedByReason.
const (
	ReasonLimit     = "limit"      // waited MaxWait without a free slot
	ReasonQueueFull = "queue full" // MaxQueue requests were already waiting
	ReasonBudget    = "budget"     // too little of its budget was left
)

// ErrShed is returned by Acquire, wrapped with the reason, when a request
// must be shed; see ShedReason.
var ErrShed = errors.New("backpressure: shed")

type shedError struct{ reason string }

func (e *shedError) Error() string { return ErrShed.Error() + ": " + e.reason }
func (e *shedError) Unwrap() error { return ErrShed }

// Preallocated so that shedding, the hot path under overload, allocates
// nothing.
var (
	errShedLimit     = &shedError{ReasonLimit}
	errShedQueueFull = &shedError{ReasonQueueFull}
	errShedBudget    = &shedError{ReasonBudget}
)

// ShedReason returns the reason carried by an error from Acquire ("limit",
// "queue full" or "budget"), or "" when err is not ErrShed.
func ShedReason(err error) string {
	var se *shedError
	if errors.As(err, &se) {
		return se.reason
	}
	return ""
}

// Observer is told about admission decisions, e.g. to export metrics. Its
// methods are called on the request path and must not block.
type Observer interface {
	Shed(reason string)
	Admitted()
	Limit(limit int)
}

// Options configure a Limiter. Zero values take the defaults in brackets.
type Options struct {
	// MinLimit and MaxLimit bound the adaptive concurrency limit [8, 1024].
	MinLimit, MaxLimit int
	// InitialLimit is the limit to start from [64], clamped to the bounds.
	InitialLimit int
	// Static fixes the limit at InitialLimit: no adaptation.
	Static bool
	// MaxWait is the longest a request may queue for a slot while the
	// queue drains [DefaultMaxWait]; a negative value disables queueing.
	MaxWait time.Duration
	// StandingWait is the longest a request may queue once the queue has
	// stood (not emptied) for Interval: sustained overload, which waiting
	// cannot serve [5ms, at most MaxWait].
	StandingWait time.Duration
	// Interval is how long the queue may stay non-empty before it counts
	// as standing [500ms].
	Interval time.Duration
	// MaxQueue is the most requests waiting at once while the queue drains
	// [4096]; a standing queue holds what the limit serves within
	// StandingWait. Beyond it, requests are shed at once.
	MaxQueue int
	// MinBudget: a request with less remaining budget is shed at once [5ms].
	MinBudget time.Duration
	// RetryAfter is the Retry-After of a shed response, rounded up to whole
	// seconds, at least 1 [1s].
	RetryAfter time.Duration
	// Window is how often the limit may change [100ms].
	Window time.Duration
	// SchedTarget is the Go scheduler latency (p90 over a window) above
	// which the CPU counts as saturated and the limit shrinks [5ms].
	SchedTarget time.Duration
	// CPU, when set, replaces the scheduler-latency signal (for tests).
	CPU CPU
	// Observer, when set, is told about each admission, shed and new limit.
	Observer Observer
	// Now is the clock [time.Now].
	Now func() time.Time
}

// DefaultMaxWait is Options.MaxWait's default: long enough to ride out a
// Badger memtable flush at 0.8x capacity on one core, short against the
// 2 s budget.
const DefaultMaxWait = 100 * time.Millisecond

// Algorithm constants; see the package doc.
const (
	minWindowSamples = 10  // a window closes only with at least this many samples
	backoff          = 0.9 // limit multiplier on a window with drops or a saturated CPU
	maxDuration      = time.Duration(math.MaxInt64)
)

// Limiter is an adaptive concurrency limit with a short FIFO wait queue. It
// is safe for concurrent use.
type Limiter struct {
	o          Options
	now        func() time.Time
	obs        Observer
	retryAfter string
	bodies     map[string][]byte // shed problem+json per reason

	mu       sync.Mutex
	limit    int
	inFlight int
	queued   int // live waiters in q
	q        []*waiter
	qHead    int
	// nonEmptySince is when the queue last went from empty to non-empty.
	nonEmptySince time.Time

	estimate atomic.Int64 // time.Duration: mean service time of the last window
	pressure atomic.Int64 // requests that found the limit reached, this window
	cpu      CPU

	admitted atomic.Int64
	shedLim  atomic.Int64
	shedQF   atomic.Int64
	shedBud  atomic.Int64
	canceled atomic.Int64

	wmu  sync.Mutex // guards the window and the limit arithmetic
	win  window
	est  float64   // the limit as a real number, for smooth steps
	best bestLimit // the limit of the best goodput lately
}

type window struct {
	start time.Time
	n     int
	drops int
	sum   time.Duration
}

// waiter states, guarded by Limiter.mu.
const (
	waiting = iota
	granted
	abandoned
)

type waiter struct {
	state int
	ready chan struct{} // buffered 1; sent to once when granted
}

// New returns a Limiter with o's defaults filled in.
func New(o Options) *Limiter {
	if o.InitialLimit <= 0 {
		o.InitialLimit = 64
	}
	if o.Static {
		o.MinLimit, o.MaxLimit = o.InitialLimit, o.InitialLimit
	}
	if o.MinLimit <= 0 {
		o.MinLimit = 8
	}
	if o.MaxLimit <= 0 {
		o.MaxLimit = 1024
	}
	if o.MaxLimit < o.MinLimit {
		o.MaxLimit = o.MinLimit
	}
	o.InitialLimit = min(max(o.InitialLimit, o.MinLimit), o.MaxLimit)
	if o.MaxWait == 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.StandingWait <= 0 {
		o.StandingWait = 5 * time.Millisecond
	}
	o.StandingWait = min(o.StandingWait, o.MaxWait)
	if o.Interval <= 0 {
		o.Interval = 500 * time.Millisecond
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = 4096
	}
	if o.MinBudget <= 0 {
		o.MinBudget = 5 * time.Millisecond
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	if o.Window <= 0 {
		o.Window = 100 * time.Millisecond
	}
	if o.SchedTarget <= 0 {
		o.SchedTarget = 5 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l := &Limiter{
		o:          o,
		now:        o.Now,
		obs:        o.Observer,
		retryAfter: retryAfterSeconds(o.RetryAfter),
		limit:      o.InitialLimit,
		est:        float64(o.InitialLimit),
	}
	l.bodies = shedBodies()
	l.cpu = o.CPU
	if l.cpu == nil {
		l.cpu = schedCPU{s: NewSchedLatency(), target: o.SchedTarget}
	}
	return l
}

// Acquire admits a request whose deadline, if any, is ctx's. On success it
// returns release, which must be called once when the request is done
// (later calls do nothing): dropped reports a timeout or overload error,
// which the limit treats as congestion. It returns an error wrapping ErrShed
// when the request must be shed (see ShedReason), and one wrapping ctx.Err()
// when ctx ends while the request waits. Acquire waits at most MaxWait.
func (l *Limiter) Acquire(ctx context.Context) (release func(dropped bool), err error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Time{}
	}
	t, err := l.acquire(ctx, l.now(), deadline)
	if err != nil {
		return nil, err
	}
	return t.release, nil
}

// acquire admits or sheds; a zero deadline means none.
func (l *Limiter) acquire(ctx context.Context, now, deadline time.Time) (*ticket, error) {
	remaining := maxDuration
	if !deadline.IsZero() {
		remaining = deadline.Sub(now)
		if remaining < l.o.MinBudget {
			return nil, l.shed(errShedBudget)
		}
	}

	l.mu.Lock()
	if l.queued == 0 && l.inFlight < l.limit {
		l.inFlight++
		l.mu.Unlock()
		return l.admit(now), nil
	}
	l.pressure.Add(1)
	standing := l.standingLocked(now)
	if l.queued >= l.maxQueueLocked(standing) {
		l.mu.Unlock()
		return nil, l.shed(errShedQueueFull)
	}
	wait, why := l.o.MaxWait, errShedLimit
	if standing {
		wait = l.o.StandingWait
	}
	if remaining != maxDuration {
		if b := remaining - l.o.MinBudget - time.Duration(l.estimate.Load()); b < wait {
			wait, why = b, errShedBudget
		}
	}
	if wait <= 0 {
		l.mu.Unlock()
		return nil, l.shed(why)
	}
	w := &waiter{ready: make(chan struct{}, 1)}
	l.q = append(l.q, w)
	if l.queued == 0 {
		l.nonEmptySince = now
	}
	l.queued++
	l.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-w.ready:
		return l.admit(l.now()), nil
	case <-timer.C:
		if l.abandon(w) {
			return nil, l.shed(why)
		}
		// Granted as the timer fired: take the slot.
		return l.admit(l.now()), nil
	case <-ctx.Done():
		if !l.abandon(w) {
			// Granted as ctx ended: hand the slot on, no sample.
			l.mu.Lock()
			l.inFlight--
			l.grantLocked()
			l.mu.Unlock()
		}
		l.canceled.Add(1)
		return nil, context.Cause(ctx)
	}
}

// standingLocked reports whether the queue has stood, not emptied, for
// Interval up to now; l.mu is held. A queue that drains within Interval is
// a burst (a flush, a GC, a slow second of the host) that waiting serves; a
// standing one is overload that waiting only turns into latency.
func (l *Limiter) standingLocked(now time.Time) bool {
	return l.queued > 0 && now.Sub(l.nonEmptySince) >= l.o.Interval
}

// maxQueueLocked is how many requests may wait at once; l.mu is held. A
// standing queue holds what the limit can serve within StandingWait (by
// Little's law, limit x StandingWait / LatencyEstimate), at least one and
// at most the limit: a waiter beyond that would read and decode its body
// only to be shed when its wait ends, the dearest way to shed.
func (l *Limiter) maxQueueLocked(standing bool) int {
	if !standing {
		return l.o.MaxQueue
	}
	n := l.limit
	if est := l.estimate.Load(); est > 0 {
		n = int(float64(l.limit) * float64(l.o.StandingWait) / float64(est))
	}
	return min(max(n, 1), l.limit, l.o.MaxQueue)
}

// abandon takes w out of the queue unless it was granted meanwhile; it
// reports whether it did.
func (l *Limiter) abandon(w *waiter) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.state == granted {
		return false
	}
	w.state = abandoned
	l.queued--
	// Trim abandoned waiters at the tail so a queue of give-ups does not
	// linger until the next release.
	for len(l.q) > l.qHead && l.q[len(l.q)-1].state == abandoned {
		l.q[len(l.q)-1] = nil
		l.q = l.q[:len(l.q)-1]
	}
	return true
}

// grantLocked hands free slots to waiters, oldest first.
func (l *Limiter) grantLocked() {
	for l.inFlight < l.limit && l.qHead < len(l.q) {
		w := l.q[l.qHead]
		l.q[l.qHead] = nil
		l.qHead++
		if w.state != waiting {
			continue
		}
		w.state = granted
		l.queued--
		l.inFlight++
		w.ready <- struct{}{}
	}
	if l.qHead == len(l.q) {
		l.q, l.qHead = l.q[:0], 0
	} else if l.qHead > 64 && l.qHead > len(l.q)/2 {
		n := copy(l.q, l.q[l.qHead:])
		clear(l.q[n:])
		l.q, l.qHead = l.q[:n], 0
	}
}

func (l *Limiter) admit(now time.Time) *ticket {
	l.admitted.Add(1)
	if l.obs != nil {
		l.obs.Admitted()
	}
	return &ticket{l: l, start: now}
}

func (l *Limiter) shed(e *shedError) error {
	switch e {
	case errShedLimit:
		l.shedLim.Add(1)
	case errShedQueueFull:
		l.shedQF.Add(1)
	default:
		l.shedBud.Add(1)
	}
	if l.obs != nil {
		l.obs.Shed(e.reason)
	}
	return e
}

// ticket is one admitted request.
type ticket struct {
	l     *Limiter
	start time.Time
	done  atomic.Bool
}

func (t *ticket) release(dropped bool) {
	if t.done.Swap(true) {
		return
	}
	l := t.l
	l.mu.Lock()
	l.inFlight--
	l.grantLocked()
	l.mu.Unlock()
	now := l.now()
	l.sample(now, now.Sub(t.start), dropped)
}

// Stats is a snapshot of a Limiter.
type Stats struct {
	Limit, InFlight, Queued int
	Admitted, Shed          int64
	ShedByReason            map[string]int64
	// Canceled counts requests whose context ended while they waited.
	Canceled int64
	// LatencyEstimate is the mean service time of the last window.
	LatencyEstimate time.Duration
	// Standing says the queue has not emptied for Interval: new waiters
	// get StandingWait, not MaxWait.
	Standing bool
}

// Stats returns a snapshot of the limiter's state and counters.
func (l *Limiter) Stats() Stats {
	now := l.now()
	l.mu.Lock()
	s := Stats{Limit: l.limit, InFlight: l.inFlight, Queued: l.queued, Standing: l.standingLocked(now)}
	l.mu.Unlock()
	s.Admitted = l.admitted.Load()
	s.ShedByReason = map[string]int64{
		ReasonLimit:     l.shedLim.Load(),
		ReasonQueueFull: l.shedQF.Load(),
		ReasonBudget:    l.shedBud.Load(),
	}
	for _, n := range s.ShedByReason {
		s.Shed += n
	}
	s.Canceled = l.canceled.Load()
	s.LatencyEstimate = time.Duration(l.estimate.Load())
	return s
}
