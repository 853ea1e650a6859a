// Package retry is the one backoff policy of every retry loop here (the
// stream consumer's fetches, dead letters and record retries, the outbox
// relays, the service's topic creation and consumer restarts): an
// exponential wait, capped, with jitter so that instances that failed
// together do not retry together, and a Sleep that ends with its context.
//
//	b := retry.Backoff{Base: 100 * time.Millisecond, Cap: 5 * time.Second}
//	for attempt := 1; ; attempt++ {
//		if err = send(ctx); err == nil {
//			break
//		}
//		if err := retry.Sleep(ctx, b.Next(attempt)); err != nil {
//			return err
//		}
//	}
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is a capped exponential backoff with "equal jitter": after the
// n-th failure in a row the ceiling is Base·2^(n-1), capped at Cap, and
// the wait is drawn uniformly from its upper half, [ceiling/2, ceiling].
// The ceiling is the wait the loops had before they were jittered, so no
// loop waits longer than it did; the half kept below it means a loop that
// fails at once never spins. Base equal to Cap is a fixed wait, jittered.
//
// A Backoff holds no state: the caller counts the failures. The zero
// Backoff waits nothing.
type Backoff struct {
	Base time.Duration // ceiling of the wait after the first failure; <= 0: no wait
	Cap  time.Duration // bound on any one wait; below Base counts as Base
	// Rand draws the jitter [the global source, safe for concurrent use].
	// A seeded one makes the waits repeatable; a *rand.Rand is not safe for
	// concurrent use, so such a Backoff must then stay in one goroutine.
	Rand *rand.Rand
}

// Next returns how long to wait after failed attempt number attempt
// (1-based; lower values count as 1) before the next one: within
// [d/2, d] where d = min(Base·2^(attempt-1), Cap).
func (b Backoff) Next(attempt int) time.Duration {
	d := b.ceiling(attempt)
	half := d / 2
	n := int64(d-half) + 1
	if b.Rand != nil {
		return half + time.Duration(b.Rand.Int64N(n))
	}
	return half + time.Duration(rand.Int64N(n))
}

// ceiling is the largest wait Next may return for attempt.
func (b Backoff) ceiling(attempt int) time.Duration {
	if b.Base <= 0 {
		return 0
	}
	limit := max(b.Cap, b.Base)
	// Shifted only while it cannot pass the cap, so it cannot overflow.
	if shift := max(attempt, 1) - 1; shift < 62 && b.Base <= limit>>shift {
		return b.Base << shift
	}
	return limit
}

// Sleep waits d, or until ctx ends. It returns nil once d has passed, and
// ctx.Err() when ctx ended first (at once when it already had, whatever d).
func Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
