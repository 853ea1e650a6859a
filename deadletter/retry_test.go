package deadletter_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fraudscore/scorer/deadletter"
)

func TestBackoffGrowsWithJitterAndIsCapped(t *testing.T) {
	p := deadletter.Policy{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond}
	for range 50 { // jitter is random: look at many draws
		for attempt, base := range map[int]time.Duration{
			0: 10 * time.Millisecond, // below 1 counts as 1
			1: 10 * time.Millisecond,
			2: 20 * time.Millisecond,
			3: 40 * time.Millisecond,
			5: 160 * time.Millisecond,
			6: 200 * time.Millisecond,
			// Far past the cap, and past where a shift would overflow.
			100: 200 * time.Millisecond,
			1e9: 200 * time.Millisecond,
		} {
			if got := p.Backoff(attempt); got < base/2 || got > base {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", attempt, got, base/2, base)
			}
		}
	}
}

func TestBackoffDefaults(t *testing.T) {
	var p deadletter.Policy
	if got := p.Backoff(1); got < 25*time.Millisecond || got > 50*time.Millisecond {
		t.Errorf("Backoff(1) = %v, want within [25ms, 50ms]", got)
	}
	if got := p.Backoff(30); got < time.Second || got > 2*time.Second {
		t.Errorf("Backoff(30) = %v, want within [1s, 2s]", got)
	}
}

var errTransient = errors.New("store busy")

// failing returns a function that fails n times with err, then succeeds,
// and counts its calls.
func failing(n int, err error) (func(context.Context) error, *int) {
	calls := 0
	return func(context.Context) error {
		calls++
		if calls <= n {
			return err
		}
		return nil
	}, &calls
}

func TestRetry(t *testing.T) {
	fast := deadletter.Policy{MaxAttempts: 4, Initial: time.Millisecond, Max: 2 * time.Millisecond}
	errBad := errors.New("invalid amount")
	isBad := func(err error) bool { return errors.Is(err, errBad) }

	tests := []struct {
		name         string
		failures     int
		err          error
		permanent    func(error) bool
		wantAttempts int
		wantErr      error
	}{
		{"success at once", 0, errTransient, nil, 1, nil},
		{"success after transient failures", 3, errTransient, isBad, 4, nil},
		{"gives up after MaxAttempts", 10, errTransient, isBad, 4, errTransient},
		{"stops on a permanent error", 10, errBad, isBad, 1, errBad},
		{"nil permanent retries everything", 10, errBad, nil, 4, errBad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			fn, calls := failing(tt.failures, tt.err)
			attempts, err := deadletter.Retry(ctx, fast, fn, tt.permanent)
			if attempts != tt.wantAttempts || *calls != tt.wantAttempts || !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("Retry = %d attempts (%d calls), %v; want %d, %v", attempts, *calls, err, tt.wantAttempts, tt.wantErr)
			}
		})
	}
}

func TestRetryStopsWhenTheContextEnds(t *testing.T) {
	t.Run("during a wait", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		slow := deadletter.Policy{MaxAttempts: 5, Initial: time.Hour, Max: time.Hour}
		fn, calls := failing(10, errTransient)
		time.AfterFunc(20*time.Millisecond, cancel)
		attempts, err := deadletter.Retry(ctx, slow, fn, nil)
		if attempts != 1 || *calls != 1 || !errors.Is(err, errTransient) || !errors.Is(err, context.Canceled) {
			t.Errorf("Retry = %d attempts (%d calls), %v; want 1, the last error and context.Canceled", attempts, *calls, err)
		}
	})
	t.Run("before the first attempt", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		fn, calls := failing(0, nil)
		attempts, err := deadletter.Retry(ctx, deadletter.Policy{}, fn, nil)
		if attempts != 0 || *calls != 0 || !errors.Is(err, context.Canceled) {
			t.Errorf("Retry = %d attempts (%d calls), %v; want 0, context.Canceled", attempts, *calls, err)
		}
	})
	t.Run("inside an attempt", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		attempts, err := deadletter.Retry(ctx, deadletter.Policy{Initial: time.Millisecond}, func(context.Context) error {
			cancel()
			return errTransient
		}, nil)
		if attempts != 1 || !errors.Is(err, context.Canceled) {
			t.Errorf("Retry = %d attempts, %v; want 1, context.Canceled", attempts, err)
		}
	})
}
