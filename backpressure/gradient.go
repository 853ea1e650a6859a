package backpressure

import (
	"math"
	"time"
)

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
	n, drops := w.n, w.drops
	*w = window{}
	l.estimate.Store(int64(short))
	if l.o.Static {
		l.wmu.Unlock()
		return
	}

	l.mu.Lock()
	peak := l.peak
	l.peak = l.inFlight
	l.mu.Unlock()

	newLimit := l.next(now, short, n, drops, peak)
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

// next computes the limit after a window of n samples with mean service
// time short (ns), drops of them dropped, and at most peak in flight. It is
// called with wmu held.
func (l *Limiter) next(now time.Time, short float64, n, drops, peak int) int {
	if short <= 0 {
		short = 1
	}
	if l.long == 0 {
		l.long = short
	} else {
		// Same weight as updating a per-sample EWMA over longWindow
		// samples n times.
		a := 1 - math.Pow(1-1.0/longWindow, float64(n))
		l.long += (short - l.long) * a
		if l.long > longResetRatio*short {
			l.long = longResetRatio * short
		}
	}

	// The baseline is the lowest window mean seen lately: the service time
	// without queueing. It anchors the reference so that a steady but
	// congested latency cannot become the new normal, which the long-term
	// mean alone would let happen (the limit would creep up through the
	// +sqrt term until requests ran into their budgets).
	if l.baseline == 0 || short < l.baseline || now.Sub(l.baselineAt) > baselineMaxAge {
		l.baseline, l.baselineAt = short, now
	}
	ref := min(l.long, l.baseline*baselineRatio)

	limit := l.est
	if drops > 0 {
		limit *= backoff
	} else {
		gradient := min(max(l.o.Tolerance*ref/short, minGradient), 1)
		target := limit*gradient + math.Sqrt(limit)
		if target > limit && float64(peak) < limit/2 {
			target = limit // app-limited: latency says nothing about more
		}
		limit = limit*(1-smoothing) + target*smoothing
	}
	limit = min(max(limit, float64(l.o.MinLimit)), float64(l.o.MaxLimit))
	l.est = limit
	return int(limit)
}
