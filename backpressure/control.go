package backpressure

import (
	"math"
	"time"
)

// CPU tells the limiter whether the process's CPU is saturated: whether
// runnable goroutines wait for a CPU longer than they should. A window
// that found it saturated shrinks the limit.
type CPU interface {
	Saturated() bool
}

// schedCPU is the default CPU: the p90 of the Go scheduler's latency over
// the window, against a target. A window with too few goroutine wake-ups
// says nothing.
type schedCPU struct {
	s      *SchedLatency
	target time.Duration
}

func (c schedCPU) Saturated() bool {
	q, n := c.s.Quantiles(0.9)
	return n >= 20 && q[0] > c.target
}

// sample folds one admitted request into the window and, when the window
// closes, moves the limit (see the package doc).
func (l *Limiter) sample(now time.Time, rtt time.Duration, dropped bool) {
	l.wmu.Lock()
	w := &l.win
	if w.n == 0 {
		w.start = now
	}
	w.n++
	w.sum += rtt
	if dropped {
		w.drops++
	}
	if w.n < minWindowSamples || now.Sub(w.start) < l.o.Window {
		l.wmu.Unlock()
		return
	}
	short := float64(w.sum) / float64(w.n)
	drops := w.drops
	goodput := float64(w.n-w.drops) / max(now.Sub(w.start).Seconds(), 1e-3)
	*w = window{}
	l.estimate.Store(int64(short))
	if l.o.Static {
		l.wmu.Unlock()
		return
	}
	pressed := l.pressure.Swap(0) > 0
	newLimit := l.next(now, goodput, drops, pressed, l.cpu.Saturated())
	l.wmu.Unlock()

	l.mu.Lock()
	changed := newLimit != l.limit
	l.limit = newLimit
	if changed {
		l.grantLocked()
	}
	l.mu.Unlock()
	if changed && l.obs != nil {
		l.obs.Limit(newLimit)
	}
}

// next computes the limit after a window that ended at now: goodput is its
// rate of samples within their deadline, drops of its samples ran past
// their deadline, pressed says requests found the limit reached (they
// queued or were shed for it), saturated that the CPU was. Called with
// wmu held.
func (l *Limiter) next(now time.Time, goodput float64, drops int, pressed, saturated bool) int {
	limit := l.est
	best := l.best.observe(now, goodput, limit)
	switch {
	case drops > 0:
		// Requests ran past their deadline: admit less.
		limit *= backoff
	case saturated:
		// Work is piling up in the CPU's run queue, where it delays every
		// request, the sheds included (the latency of admitted requests
		// alone cannot tell that from a group commit being gathered, which
		// made a latency gradient ratchet the limit down). Admit less, but
		// not below most of the limit that served the best goodput lately:
		// each shed costs CPU too, and past some point admitting less only
		// sheds more, the CPU staying as saturated and goodput collapsing.
		limit = max(limit*cpuBackoff, floorShare*best)
	case pressed:
		// Demand is above the limit and the CPU has room: admit more,
		// quickly, so that a limit cut by a burst comes back within a few
		// windows.
		limit += max(1, math.Sqrt(limit))
	}
	limit = min(max(limit, float64(l.o.MinLimit)), float64(l.o.MaxLimit))
	l.est = limit
	return int(limit)
}

// floorShare is how far below the limit of the best recent goodput a
// saturated CPU can push the limit; cpuBackoff is the cut of one saturated
// window, gentler than for drops: saturation comes and goes with bursts.
const (
	floorShare = 0.5
	cpuBackoff = 0.95
)

// bestWindow remembers, over the last bestFor, the limit under which the
// highest goodput was served.
const bestFor = 10 * time.Second

type bestLimit struct {
	at      time.Time
	goodput float64
	limit   float64
}

// observe folds in a window's goodput and limit and returns the limit of
// the best goodput within bestFor.
func (b *bestLimit) observe(now time.Time, goodput, limit float64) float64 {
	if goodput >= b.goodput || now.Sub(b.at) > bestFor {
		*b = bestLimit{at: now, goodput: goodput, limit: limit}
	}
	return b.limit
}
