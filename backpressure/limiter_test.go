package backpressure

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// cpuSwitch is a CPU signal the test sets.
type cpuSwitch struct{ saturated atomic.Bool }

func (c *cpuSwitch) Saturated() bool { return c.saturated.Load() }

// drive runs l for d of fake time in rounds: each round fills every slot
// (and, with demand, asks for one more, which is shed or queued: demand
// above the limit), lets rtt pass, and releases them all. It returns the
// lowest and the last limit seen.
func drive(t *testing.T, l *Limiter, c *fakeClock, rtt, d time.Duration, dropped, demand bool) (lowest, last int) {
	t.Helper()
	lowest = l.Stats().Limit
	for end := c.Now().Add(d); c.Now().Before(end); {
		n := l.Stats().Limit
		rels := make([]func(bool), 0, n)
		for range n {
			rel, err := l.Acquire(context.Background())
			if err != nil {
				t.Fatalf("Acquire with %d slots: %v", n, err)
			}
			rels = append(rels, rel)
		}
		if demand {
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // gives up at once: a request that found the limit reached
			l.Acquire(ctx)
		}
		c.Advance(rtt)
		for _, rel := range rels {
			rel(dropped)
		}
		lowest = min(lowest, l.Stats().Limit)
	}
	return lowest, l.Stats().Limit
}

func TestLimitGrowsWithDemandWhileTheCPUHasRoom(t *testing.T) {
	c, cpu := newFakeClock(), &cpuSwitch{}
	l := New(Options{InitialLimit: 20, MaxLimit: 200, Now: c.Now, CPU: cpu})
	_, grown := drive(t, l, c, 10*time.Millisecond, time.Second, false, true)
	if grown <= 40 {
		t.Fatalf("limit after 1s of demand above it = %d, want it well past the initial 20", grown)
	}
	// Latency rising tenfold says nothing by itself: a group commit
	// gathered with fewer requests in flight is slower, not congested.
	lowest, _ := drive(t, l, c, 100*time.Millisecond, 3*time.Second, false, false)
	if lowest < grown {
		t.Fatalf("limit fell from %d to %d on latency alone", grown, lowest)
	}
}

func TestSaturatedCPUShrinksTheLimitButNotBelowMostOfTheBest(t *testing.T) {
	c, cpu := newFakeClock(), &cpuSwitch{}
	l := New(Options{InitialLimit: 100, MaxLimit: 200, Now: c.Now, CPU: cpu})
	// Full goodput at 100: the best lately.
	drive(t, l, c, 10*time.Millisecond, 300*time.Millisecond, false, false)
	best := l.Stats().Limit
	cpu.saturated.Store(true)
	lowest, last := drive(t, l, c, 10*time.Millisecond, 2*time.Second, false, true)
	if lowest > best*95/100 {
		t.Fatalf("limit with a saturated CPU: lowest %d, want it cut below %d", lowest, best*95/100)
	}
	// Past that, admitting less only sheds more (a shed costs CPU too):
	// the limit stays near what served the best goodput.
	if floor := int(floorShare * float64(best)); lowest < floor || last < floor {
		t.Fatalf("limit with a saturated CPU fell to %d (last %d), below %d of the best %d", lowest, last, floor, best)
	}
	cpu.saturated.Store(false)
	_, recovered := drive(t, l, c, 10*time.Millisecond, time.Second, false, true)
	if recovered <= best {
		t.Fatalf("limit 1s after the CPU had room again = %d, want past %d", recovered, best)
	}
}

func TestDroppedSamplesCutTheLimit(t *testing.T) {
	c := newFakeClock()
	l := New(Options{InitialLimit: 100, MinLimit: 5, Now: c.Now, CPU: &cpuSwitch{}})
	_, last := drive(t, l, c, 10*time.Millisecond, 3*time.Second, true, true)
	if last != 5 {
		t.Fatalf("limit after 3s of timeouts = %d, want MinLimit 5", last)
	}
}

func TestLimitDoesNotGrowWhenAppLimited(t *testing.T) {
	c := newFakeClock()
	l := New(Options{InitialLimit: 20, Now: c.Now, CPU: &cpuSwitch{}})
	for range 1000 { // one request at a time: 10s of fake time
		rel, err := l.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		c.Advance(10 * time.Millisecond)
		rel(false)
	}
	if got := l.Stats().Limit; got != 20 {
		t.Fatalf("limit with 1 of 20 slots used = %d, want 20", got)
	}
}

func TestStaticKeepsTheLimit(t *testing.T) {
	c := newFakeClock()
	l := New(Options{Static: true, InitialLimit: 16, Now: c.Now})
	for _, give := range []struct {
		rtt     time.Duration
		dropped bool
	}{{10 * time.Millisecond, false}, {80 * time.Millisecond, false}, {10 * time.Millisecond, true}} {
		lowest, last := drive(t, l, c, give.rtt, time.Second, give.dropped, true)
		if lowest != 16 || last != 16 {
			t.Fatalf("static limit with rtt %v dropped %v: lowest %d, last %d; want 16", give.rtt, give.dropped, lowest, last)
		}
	}
}

func TestShedAtOnce(t *testing.T) {
	t.Run("budget below MinBudget", func(t *testing.T) {
		l := New(Options{MaxWait: 10 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Millisecond)
		defer cancel()
		_, err := l.Acquire(ctx)
		if !errors.Is(err, ErrShed) || ShedReason(err) != ReasonBudget {
			t.Fatalf("Acquire with 2ms left = %v, want ErrShed %q", err, ReasonBudget)
		}
		if s := l.Stats(); s.ShedByReason[ReasonBudget] != 1 || s.Shed != 1 || s.Admitted != 0 {
			t.Fatalf("stats = %+v, want one budget shed", s)
		}
	})
	t.Run("queue full", func(t *testing.T) {
		l := New(Options{Static: true, InitialLimit: 1, MaxQueue: 1, MaxWait: 10 * time.Second})
		rel := mustAcquire(t, l, context.Background())
		defer rel(false)
		queued := acquireAsync(l, context.Background())
		waitFor(t, "one queued", func() bool { return l.Stats().Queued == 1 })
		_, err := l.Acquire(context.Background())
		if ShedReason(err) != ReasonQueueFull {
			t.Fatalf("Acquire with the queue full = %v, want ErrShed %q", err, ReasonQueueFull)
		}
		rel(false)
		if r := <-queued; r.err != nil {
			t.Fatalf("queued Acquire = %v", r.err)
		} else {
			r.release(false)
		}
	})
	t.Run("no time to wait and be served", func(t *testing.T) {
		c := newFakeClock()
		l := New(Options{Static: true, InitialLimit: 10, MaxWait: 10 * time.Second, Now: c.Now})
		_, _ = drive(t, l, c, 50*time.Millisecond, time.Second, false, false) // estimate 50ms
		rels := make([]func(bool), 10)
		for i := range rels {
			rels[i] = mustAcquire(t, l, context.Background())
		}
		// 40ms left < 5ms MinBudget + 50ms estimate: no point queueing.
		ctx, cancel := context.WithDeadline(context.Background(), c.Now().Add(40*time.Millisecond))
		defer cancel()
		_, err := l.Acquire(ctx)
		if ShedReason(err) != ReasonBudget {
			t.Fatalf("Acquire with 40ms left and a 50ms estimate = %v, want ErrShed %q", err, ReasonBudget)
		}
		for _, rel := range rels {
			rel(false)
		}
	})
}

func TestQueue(t *testing.T) {
	t.Run("a queued request is admitted when a slot frees", func(t *testing.T) {
		l := New(Options{Static: true, InitialLimit: 1, MaxWait: 10 * time.Second})
		rel := mustAcquire(t, l, context.Background())
		queued := acquireAsync(l, context.Background())
		waitFor(t, "one queued", func() bool { return l.Stats().Queued == 1 })
		rel(false)
		r := recv(t, queued)
		if r.err != nil {
			t.Fatalf("queued Acquire = %v, want admitted", r.err)
		}
		if s := l.Stats(); s.InFlight != 1 || s.Queued != 0 || s.Admitted != 2 {
			t.Fatalf("stats = %+v, want 1 in flight, 0 queued, 2 admitted", s)
		}
		r.release(false)
		r.release(false) // a second call does nothing
		if s := l.Stats(); s.InFlight != 0 {
			t.Fatalf("in flight after release = %d, want 0", s.InFlight)
		}
	})
	t.Run("waiters are admitted oldest first", func(t *testing.T) {
		l := New(Options{Static: true, InitialLimit: 1, MaxQueue: 3, MaxWait: 10 * time.Second})
		rel := mustAcquire(t, l, context.Background())
		var chans []chan acquired
		for i := range 3 {
			chans = append(chans, acquireAsync(l, context.Background()))
			waitFor(t, "queued", func() bool { return l.Stats().Queued == i+1 })
		}
		for i, ch := range chans {
			rel(false)
			r := recv(t, ch)
			if r.err != nil {
				t.Fatalf("waiter %d: %v", i, r.err)
			}
			for _, other := range chans[i+1:] {
				select {
				case <-other:
					t.Fatalf("a later waiter was admitted before waiter %d", i)
				default:
				}
			}
			rel = r.release
		}
		rel(false)
	})
	t.Run("a waiter gives up after MaxWait", func(t *testing.T) {
		l := New(Options{Static: true, InitialLimit: 1, MaxWait: 20 * time.Millisecond})
		rel := mustAcquire(t, l, context.Background())
		defer rel(false)
		_, err := l.Acquire(context.Background())
		if ShedReason(err) != ReasonLimit {
			t.Fatalf("Acquire past MaxWait = %v, want ErrShed %q", err, ReasonLimit)
		}
		if s := l.Stats(); s.Queued != 0 {
			t.Fatalf("queued after give-up = %d, want 0", s.Queued)
		}
	})
	t.Run("a waiter gives up when its budget runs short", func(t *testing.T) {
		l := New(Options{Static: true, InitialLimit: 1, MaxWait: 10 * time.Second, MinBudget: 20 * time.Millisecond})
		rel := mustAcquire(t, l, context.Background())
		defer rel(false)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Millisecond)
		defer cancel()
		_, err := l.Acquire(ctx)
		if ShedReason(err) != ReasonBudget {
			t.Fatalf("Acquire queued until its budget ran short = %v, want ErrShed %q", err, ReasonBudget)
		}
		if ctx.Err() != nil {
			t.Fatalf("shed only after the deadline; want shed MinBudget before it")
		}
	})
	t.Run("cancel while queued releases the queue slot", func(t *testing.T) {
		l := New(Options{Static: true, InitialLimit: 1, MaxQueue: 1, MaxWait: 10 * time.Second})
		rel := mustAcquire(t, l, context.Background())
		ctx, cancel := context.WithCancel(context.Background())
		queued := acquireAsync(l, ctx)
		waitFor(t, "one queued", func() bool { return l.Stats().Queued == 1 })
		cancel()
		r := recv(t, queued)
		if !errors.Is(r.err, context.Canceled) || errors.Is(r.err, ErrShed) {
			t.Fatalf("canceled Acquire = %v, want context.Canceled", r.err)
		}
		if s := l.Stats(); s.Queued != 0 || s.Canceled != 1 {
			t.Fatalf("stats after cancel = %+v, want 0 queued, 1 canceled", s)
		}
		// The queue has room again, and the slot was not leaked.
		next := acquireAsync(l, context.Background())
		waitFor(t, "one queued", func() bool { return l.Stats().Queued == 1 })
		rel(false)
		r = recv(t, next)
		if r.err != nil {
			t.Fatalf("Acquire after a canceled waiter = %v", r.err)
		}
		r.release(false)
		if s := l.Stats(); s.InFlight != 0 || s.Queued != 0 {
			t.Fatalf("stats at rest = %+v, want nothing in flight or queued", s)
		}
	})
}

// TestStandingQueue: a queue that drains within Interval is a burst, and
// its waiters may wait MaxWait; once it has stood for Interval it is
// overload, and newcomers wait only StandingWait and are refused at once
// when the limit's worth already wait. Waiters queued in the burst keep
// their long wait.
func TestStandingQueue(t *testing.T) {
	c := newFakeClock()
	l := New(Options{Static: true, InitialLimit: 2, MaxWait: 10 * time.Second,
		StandingWait: time.Millisecond, Interval: 500 * time.Millisecond, Now: c.Now})
	rel1 := mustAcquire(t, l, context.Background())
	rel2 := mustAcquire(t, l, context.Background())

	burst := acquireAsync(l, context.Background())
	waitFor(t, "one queued", func() bool { return l.Stats().Queued == 1 })
	c.Advance(499 * time.Millisecond)
	if l.Stats().Standing {
		t.Fatal("a queue 499ms old counts as standing; want a burst until Interval")
	}
	c.Advance(time.Millisecond)
	if !l.Stats().Standing {
		t.Fatal("a queue that has not emptied for Interval does not count as standing")
	}
	// A newcomer to the standing queue gets StandingWait (1ms), not MaxWait.
	if _, err := l.Acquire(context.Background()); ShedReason(err) != ReasonLimit {
		t.Fatalf("Acquire on a standing queue = %v, want ErrShed %q after StandingWait", err, ReasonLimit)
	}
	// The burst's waiter kept its MaxWait through all of that.
	rel1(false)
	if r := recv(t, burst); r.err != nil {
		t.Fatalf("waiter queued in the burst = %v, want admitted", r.err)
	} else {
		r.release(false)
	}
	rel2(false)
	// Drained: the next queue is a burst again.
	if s := l.Stats(); s.Queued != 0 || s.Standing {
		t.Fatalf("stats after draining = %+v, want an empty queue that does not stand", s)
	}
	rel := mustAcquire(t, l, context.Background())
	defer rel(false)
	rel3 := mustAcquire(t, l, context.Background())
	defer rel3(false)
	c.Advance(time.Hour)
	if err := l.Precheck(context.Background()); err != nil {
		t.Fatalf("Precheck on an empty queue after a long quiet = %v, want a place in the queue", err)
	}
}

// TestStandingQueueHoldsTheLimit: a standing queue holds at most the
// limit's worth of waiters; beyond, Precheck refuses before the body is
// read, where a burst's queue would have taken them.
func TestStandingQueueHoldsTheLimit(t *testing.T) {
	c := newFakeClock()
	l := New(Options{Static: true, InitialLimit: 1, MaxWait: 10 * time.Second,
		Interval: 500 * time.Millisecond, Now: c.Now})
	rel := mustAcquire(t, l, context.Background())
	burst := acquireAsync(l, context.Background())
	waitFor(t, "one queued", func() bool { return l.Stats().Queued == 1 })
	if err := l.Precheck(context.Background()); err != nil {
		t.Fatalf("Precheck with one in a 1ms-old queue = %v, want room (MaxQueue 4096)", err)
	}
	c.Advance(time.Second)
	if err := l.Precheck(context.Background()); ShedReason(err) != ReasonQueueFull {
		t.Fatalf("Precheck with the limit's worth in a standing queue = %v, want %q", err, ReasonQueueFull)
	}
	if _, err := l.Acquire(context.Background()); ShedReason(err) != ReasonQueueFull {
		t.Fatalf("Acquire with the limit's worth in a standing queue = %v, want %q", err, ReasonQueueFull)
	}
	rel(false)
	if r := recv(t, burst); r.err != nil {
		t.Fatalf("burst waiter = %v, want admitted", r.err)
	} else {
		r.release(false)
	}
}

// TestConcurrentChurn hammers a small limit from many goroutines with
// cancels and timeouts mixed in, then checks that nothing leaked.
func TestConcurrentChurn(t *testing.T) {
	l := New(Options{InitialLimit: 4, MinLimit: 2, MaxLimit: 8, MaxWait: time.Millisecond, Window: time.Millisecond})
	var wg sync.WaitGroup
	stop := time.Now().Add(300 * time.Millisecond)
	for g := range 16 {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop); i++ {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(g%4+1)*5*time.Millisecond)
				rel, err := l.Acquire(ctx)
				if err == nil {
					time.Sleep(time.Duration(i%3) * 100 * time.Microsecond)
					rel(i%7 == 0)
				}
				cancel()
			}
		})
	}
	wg.Wait()
	s := l.Stats()
	if s.InFlight != 0 || s.Queued != 0 {
		t.Fatalf("after churn: %+v, want nothing in flight or queued", s)
	}
	if s.Admitted == 0 {
		t.Fatalf("after churn: nothing admitted")
	}
	t.Logf("churn: %+v", s)
}

type acquired struct {
	release func(bool)
	err     error
}

func mustAcquire(t *testing.T, l *Limiter, ctx context.Context) func(bool) {
	t.Helper()
	rel, err := l.Acquire(ctx)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return rel
}

func acquireAsync(l *Limiter, ctx context.Context) chan acquired {
	ch := make(chan acquired, 1)
	go func() {
		rel, err := l.Acquire(ctx)
		ch <- acquired{rel, err}
	}()
	return ch
}

func recv(t *testing.T, ch chan acquired) acquired {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("Acquire did not return within 5s")
		return acquired{}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestStandingQueueHoldsWhatTheLimitServesInTime: with a 50ms service
// time, a limit of 10 serves one request in 5ms, so a standing queue with
// one waiter refuses the next before its body is read; a waiter beyond it
// would time out after reading and decoding its body.
func TestStandingQueueHoldsWhatTheLimitServesInTime(t *testing.T) {
	c := newFakeClock()
	l := New(Options{Static: true, InitialLimit: 10, MaxWait: 10 * time.Second, Interval: 500 * time.Millisecond, Now: c.Now})
	drive(t, l, c, 50*time.Millisecond, time.Second, false, false)
	if est := l.Stats().LatencyEstimate; est != 50*time.Millisecond {
		t.Fatalf("estimate %v, want 50ms", est)
	}
	rels := make([]func(bool), 10)
	for i := range rels {
		rels[i] = mustAcquire(t, l, context.Background())
	}
	waiter := acquireAsync(l, context.Background())
	waitFor(t, "one queued", func() bool { return l.Stats().Queued == 1 })
	if err := l.Precheck(context.Background()); err != nil {
		t.Fatalf("Precheck on a young queue = %v, want room", err)
	}
	c.Advance(time.Second)
	if err := l.Precheck(context.Background()); ShedReason(err) != ReasonQueueFull {
		t.Fatalf("Precheck on a standing queue holding what 10 slots serve in 5ms = %v, want %q", err, ReasonQueueFull)
	}
	for _, rel := range rels {
		rel(false)
	}
	if r := recv(t, waiter); r.err != nil {
		t.Fatalf("waiter = %v, want admitted", r.err)
	} else {
		r.release(false)
	}
}
