package deadletter

import (
	"context"
	"fmt"
	"time"

	"github.com/fraudscore/scorer/retry"
)

// The defaults of Policy.
const (
	defaultMaxAttempts = 5
	defaultInitial     = 50 * time.Millisecond
	defaultMax         = 2 * time.Second
)

// Policy is a bounded retry, with the backoff of package retry between
// attempts, for transient failures. Zero fields take the defaults in
// brackets.
type Policy struct {
	MaxAttempts int           // attempts in all, the first included [5]
	Initial     time.Duration // backoff after the first failure [50ms]
	Max         time.Duration // cap on any one backoff [2s]
}

func (p Policy) withDefaults() Policy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = defaultMaxAttempts
	}
	if p.Initial <= 0 {
		p.Initial = defaultInitial
	}
	if p.Max <= 0 {
		p.Max = defaultMax
	}
	return p
}

// Backoff returns how long to wait after failed attempt number attempt
// (1-based; lower values count as 1) before the next one: Initial doubled
// per earlier failure and capped at Max (a Max below Initial counts as
// Initial), of which a random upper half is taken ("equal jitter", see
// retry.Backoff), so the wait lies in [d/2, d] and instances that failed
// together do not retry together.
func (p Policy) Backoff(attempt int) time.Duration {
	p = p.withDefaults()
	return retry.Backoff{Base: p.Initial, Cap: p.Max}.Next(attempt)
}

// Retry calls fn until it succeeds, fails with an error for which
// permanent returns true (permanent may be nil: every error is transient),
// has been called p.MaxAttempts times, or ctx ends. It returns the number
// of calls made and the last error, nil on success. When ctx ends during
// a wait the error wraps both fn's last error and ctx.Err(); when ctx has
// ended before the first call, Retry returns 0 and ctx.Err().
func Retry(ctx context.Context, p Policy, fn func(context.Context) error, permanent func(error) bool) (int, error) {
	p = p.withDefaults()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return attempt, nil
		}
		if attempt >= p.MaxAttempts || (permanent != nil && permanent(err)) {
			return attempt, err
		}
		if retry.Sleep(ctx, p.Backoff(attempt)) != nil {
			return attempt, fmt.Errorf("%w (retry stopped: %w)", err, ctx.Err())
		}
	}
}
