// Package diskguard stops writes before the disk under the service's state
// fills up, and lets them resume by themselves when space comes back.
//
// Badger appends to memory-mapped files; on a full disk a write through
// such a mapping is not an error the program can handle but a SIGBUS that
// kills the process, and again on every restart while the disk stays full.
// The only safe answer is to stop writing while there is still room: a
// Guard reads the free space of the data directory, and reports the
// service not writable below a minimum, until the free space is back above
// a higher resume mark (so it does not flap at the edge).
//
//	g, err := diskguard.Start(diskguard.Options{Path: dir, MinFree: 512 << 20})
//	if err := g.Writable(); err != nil { /* refuse the work: 503 */ }
//	defer g.Close()
package diskguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Options configure a Guard. Zero values take the defaults in brackets.
type Options struct {
	// Path is a directory on the file system to watch (the data dir).
	Path string
	// MinFree is the free space, in bytes, below which writes stop [512 MiB].
	MinFree uint64
	// ResumeFree is the free space at which writes resume
	// [MinFree + max(MinFree/8, 16 MiB)].
	ResumeFree uint64
	// Interval is how often the free space is read [250ms]. Between reads,
	// Charge counts what is written, so that a burst of writes is caught
	// before the next read.
	Interval time.Duration
	// Free returns the bytes available to an unprivileged writer on the file
	// system holding path [statfs(2)].
	Free   func(path string) (uint64, error)
	Logger *slog.Logger
	// OnChange, when set, is told when writes stop (low true) or resume.
	OnChange func(low bool)
}

// LowError says why writes are stopped.
type LowError struct {
	Path          string
	Free, MinFree uint64
	// Err is the write error that stopped writes (ENOSPC), if one did.
	Err error
}

func (e *LowError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("disk full under %s: a write failed (%v); writes resume above %s free", e.Path, e.Err, mib(e.MinFree))
	}
	return fmt.Sprintf("disk nearly full under %s: %s free, below the %s minimum", e.Path, mib(e.Free), mib(e.MinFree))
}

// ErrLow matches every *LowError with errors.Is.
var ErrLow = errors.New("diskguard: disk nearly full")

func (e *LowError) Is(target error) bool { return target == ErrLow }

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// Guard watches one file system. Its methods are safe for concurrent use.
type Guard struct {
	o Options

	low     atomic.Pointer[LowError] // nil while writable
	free    atomic.Uint64            // at the last read
	charged atomic.Int64             // bytes written since the last read
	mu      sync.Mutex               // serialises reads and state changes
	resumed chan struct{}            // closed when writes resume; replaced when they stop

	stop chan struct{}
	done chan struct{}
}

// Check reads the free space under path once and returns a *LowError when
// it is below minFree: for start-up, before anything is opened for
// writing.
func Check(path string, minFree uint64) error {
	free, err := statfsFree(path)
	if err != nil {
		return fmt.Errorf("diskguard: free space of %s: %w", path, err)
	}
	if free < minFree {
		return &LowError{Path: path, Free: free, MinFree: minFree}
	}
	return nil
}

// Start reads the free space once and starts watching it. It fails when
// the free space cannot be read.
func Start(o Options) (*Guard, error) {
	if o.MinFree == 0 {
		o.MinFree = 512 << 20
	}
	if o.ResumeFree <= o.MinFree {
		o.ResumeFree = o.MinFree + max(o.MinFree/8, 16<<20)
	}
	if o.Interval <= 0 {
		o.Interval = 250 * time.Millisecond
	}
	if o.Free == nil {
		o.Free = statfsFree
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	g := &Guard{o: o, resumed: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	close(g.resumed)
	if err := g.read(); err != nil {
		return nil, err
	}
	go g.loop()
	return g, nil
}

// Close stops watching.
func (g *Guard) Close() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	<-g.done
}

// Writable returns nil when writes may go ahead, else the *LowError that
// stopped them. It is cheap: a load, and a read of the free space only when
// the writes charged since the last one may have crossed the minimum.
func (g *Guard) Writable() error {
	if e := g.low.Load(); e != nil {
		return e
	}
	if est := int64(g.free.Load()) - 2*g.charged.Load(); est < int64(g.o.MinFree) {
		// Writes since the last read may have crossed the line: look now.
		// Twice the bytes, because Badger writes each one to its log and
		// again to a table.
		if err := g.read(); err != nil {
			g.o.Logger.Warn("disk free space unreadable", "path", g.o.Path, "err", err)
		}
		if e := g.low.Load(); e != nil {
			return e
		}
	}
	return nil
}

// Charge counts n bytes about to be written, until the next read of the
// free space accounts for them.
func (g *Guard) Charge(n int) { g.charged.Add(int64(n)) }

// Report tells the guard about a failed write: one that failed for want of
// space stops writes until the free space is back above the resume mark.
func (g *Guard) Report(err error) {
	if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EDQUOT) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.setLow(&LowError{Path: g.o.Path, Free: g.free.Load(), MinFree: g.o.ResumeFree, Err: err})
}

// Wait blocks until writes may go ahead or ctx ends.
func (g *Guard) Wait(ctx context.Context) error {
	for {
		if g.low.Load() == nil {
			return nil
		}
		g.mu.Lock()
		ch := g.resumed
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Status is a snapshot for metrics and readiness.
type Status struct {
	Free, MinFree uint64
	Low           bool
}

// Status returns the free space at the last read and whether writes stop.
func (g *Guard) Status() Status {
	return Status{Free: g.free.Load(), MinFree: g.o.MinFree, Low: g.low.Load() != nil}
}

func (g *Guard) loop() {
	defer close(g.done)
	t := time.NewTicker(g.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
			if err := g.read(); err != nil {
				g.o.Logger.Warn("disk free space unreadable", "path", g.o.Path, "err", err)
			}
		}
	}
}

// read reads the free space and moves the state: low below MinFree, back to
// writable at ResumeFree.
func (g *Guard) read() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	free, err := g.o.Free(g.o.Path)
	if err != nil {
		return err
	}
	g.free.Store(free)
	g.charged.Store(0)
	switch low := g.low.Load(); {
	case low == nil && free < g.o.MinFree:
		g.setLow(&LowError{Path: g.o.Path, Free: free, MinFree: g.o.MinFree})
	case low != nil && free >= g.o.ResumeFree:
		g.low.Store(nil)
		close(g.resumed)
		g.o.Logger.Info("disk space back: writes resume", "path", g.o.Path, "free_mib", free>>20)
		if g.o.OnChange != nil {
			g.o.OnChange(false)
		}
	case low != nil:
		l := *low
		l.Free = free
		g.low.Store(&l)
	}
	return nil
}

// setLow stops writes; g.mu is held.
func (g *Guard) setLow(e *LowError) {
	if g.low.Swap(e) != nil {
		return
	}
	g.resumed = make(chan struct{})
	g.o.Logger.Error("disk nearly full: refusing new work until space is freed", "path", g.o.Path,
		"free_mib", e.Free>>20, "min_free_mib", g.o.MinFree>>20, "resume_free_mib", g.o.ResumeFree>>20, "err", e.Err)
	if g.o.OnChange != nil {
		g.o.OnChange(true)
	}
}

func statfsFree(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
