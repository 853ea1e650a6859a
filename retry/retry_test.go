package retry_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/fraudscore/scorer/retry"
)

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

// draws is how many waits each test looks at: the jitter is random, and
// a seeded source makes every run see the same ones.
const draws = 2000

func TestNextStaysWithinItsRangeAndUnderTheCap(t *testing.T) {
	b := retry.Backoff{Base: 10 * time.Millisecond, Cap: 200 * time.Millisecond, Rand: seeded(1)}
	for attempt, ceiling := range map[int]time.Duration{
		-3: 10 * time.Millisecond, // below 1 counts as 1
		0:  10 * time.Millisecond,
		1:  10 * time.Millisecond,
		2:  20 * time.Millisecond,
		3:  40 * time.Millisecond,
		5:  160 * time.Millisecond,
		6:  200 * time.Millisecond, // 320 ms, capped
		// Far past the cap, and past where a shift would overflow.
		62:  200 * time.Millisecond,
		100: 200 * time.Millisecond,
		1e9: 200 * time.Millisecond,
	} {
		for range draws {
			if got := b.Next(attempt); got < ceiling/2 || got > ceiling {
				t.Fatalf("Next(%d) = %v, want within [%v, %v]", attempt, got, ceiling/2, ceiling)
			}
		}
	}
}

// With equal jitter the range of attempt n+1 starts where that of n ends,
// so below the cap every wait is at least every wait before it.
func TestNextGrowsUntilTheCap(t *testing.T) {
	b := retry.Backoff{Base: 50 * time.Millisecond, Cap: 2 * time.Second, Rand: seeded(2)}
	prevMax := time.Duration(0)
	for attempt := 1; attempt <= 6; attempt++ { // 50 ms .. 1.6 s
		lo, hi := time.Duration(1<<62), time.Duration(0)
		for range draws {
			d := b.Next(attempt)
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo < prevMax {
			t.Fatalf("Next(%d) drew %v, below %v drawn for attempt %d", attempt, lo, prevMax, attempt-1)
		}
		if hi <= prevMax {
			t.Fatalf("Next(%d) drew at most %v, not above attempt %d's %v", attempt, hi, attempt-1, prevMax)
		}
		prevMax = hi
	}
	for attempt := 7; attempt <= 70; attempt++ {
		if d := b.Next(attempt); d > 2*time.Second || d < time.Second {
			t.Fatalf("Next(%d) = %v, want within the capped range [1s, 2s]", attempt, d)
		}
	}
}

func TestNextIsJitteredOverTheWholeRange(t *testing.T) {
	const ceiling = 800 * time.Millisecond
	b := retry.Backoff{Base: 100 * time.Millisecond, Cap: ceiling, Rand: seeded(3)}
	var low, high int
	seen := map[time.Duration]bool{}
	for range draws {
		d := b.Next(10)
		seen[d] = true
		switch {
		case d < ceiling/2+ceiling/8: // the lowest quarter of [400 ms, 800 ms]
			low++
		case d > ceiling-ceiling/8: // the highest quarter
			high++
		}
	}
	// Uniform: about a quarter of the draws in each; a tenth is far below
	// what any seed gives, far above what a wait without jitter gives.
	if low < draws/10 || high < draws/10 || len(seen) < draws/2 {
		t.Errorf("%d draws: %d in the lowest quarter, %d in the highest, %d distinct; want a spread over [%v, %v]",
			draws, low, high, len(seen), ceiling/2, ceiling)
	}
}

func TestNextIsRepeatableWithASeededSource(t *testing.T) {
	seq := func(seed uint64) []time.Duration {
		b := retry.Backoff{Base: time.Millisecond, Cap: time.Second, Rand: seeded(seed)}
		var out []time.Duration
		for attempt := range 20 {
			out = append(out, b.Next(attempt))
		}
		return out
	}
	a, again, other := seq(7), seq(7), seq(8)
	same := func(x, y []time.Duration) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, again) {
		t.Errorf("one seed, two sequences:\n%v\n%v", a, again)
	}
	if same(a, other) {
		t.Errorf("seeds 7 and 8 gave the same sequence %v", a)
	}
}

func TestNextEdges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		b      retry.Backoff
		lo, hi time.Duration
	}{
		{"the zero Backoff waits nothing", retry.Backoff{}, 0, 0},
		{"a negative base waits nothing", retry.Backoff{Base: -time.Second, Cap: time.Second}, 0, 0},
		{"a cap below the base counts as the base", retry.Backoff{Base: time.Second, Cap: time.Millisecond}, 500 * time.Millisecond, time.Second},
		{"no cap is the base", retry.Backoff{Base: time.Second}, 500 * time.Millisecond, time.Second},
		{"base equal to cap is a fixed wait, jittered", retry.Backoff{Base: time.Second, Cap: time.Second}, 500 * time.Millisecond, time.Second},
		{"a nanosecond", retry.Backoff{Base: 1, Cap: 1}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.b.Rand = seeded(4)
			for _, attempt := range []int{1, 2, 30, 63, 64, 1 << 40} {
				for range 100 {
					if got := tc.b.Next(attempt); got < tc.lo || got > tc.hi {
						t.Fatalf("Next(%d) = %v, want within [%v, %v]", attempt, got, tc.lo, tc.hi)
					}
				}
			}
		})
	}
}

func TestNextWithTheLargestCapDoesNotOverflow(t *testing.T) {
	const most = time.Duration(1<<63 - 1)
	b := retry.Backoff{Base: time.Second, Cap: most, Rand: seeded(5)}
	for _, attempt := range []int{63, 64, 1 << 40} {
		for range 100 {
			if got := b.Next(attempt); got < most/2 || got > most {
				t.Fatalf("Next(%d) = %v, want within [%v, %v]", attempt, got, most/2, most)
			}
		}
	}
}

// The global source serves concurrent loops (the consumer's partitions
// share one policy): under -race this checks it needs no lock.
func TestNextWithoutASourceIsSafeForConcurrentUse(t *testing.T) {
	b := retry.Backoff{Base: time.Millisecond, Cap: 8 * time.Millisecond}
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for attempt := range 1000 {
				if d := b.Next(attempt); d < 500*time.Microsecond || d > 8*time.Millisecond {
					t.Errorf("Next(%d) = %v, want within [0.5ms, 8ms]", attempt, d)
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}

func TestSleep(t *testing.T) {
	t.Run("returns nil once the wait has passed", func(t *testing.T) {
		start := time.Now()
		if err := retry.Sleep(context.Background(), 2*time.Millisecond); err != nil {
			t.Fatalf("Sleep = %v, want nil", err)
		}
		if waited := time.Since(start); waited < 2*time.Millisecond {
			t.Errorf("Sleep returned after %v, want at least 2ms", waited)
		}
	})
	t.Run("no wait returns at once", func(t *testing.T) {
		for _, d := range []time.Duration{0, -time.Hour} {
			if err := retry.Sleep(context.Background(), d); err != nil {
				t.Errorf("Sleep(%v) = %v, want nil", d, err)
			}
		}
	})
	t.Run("an ended context wins, whatever the wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, d := range []time.Duration{0, time.Nanosecond, time.Hour} {
			if err := retry.Sleep(ctx, d); !errors.Is(err, context.Canceled) {
				t.Errorf("Sleep(%v) on an ended context = %v, want context.Canceled", d, err)
			}
		}
	})
	t.Run("a context that ends during the wait ends it", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		go cancel()
		if err := retry.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
			t.Errorf("Sleep = %v, want context.Canceled", err)
		}
	})
	t.Run("a deadline ends it with the deadline's error", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		if err := retry.Sleep(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Sleep = %v, want context.DeadlineExceeded", err)
		}
	})
}
