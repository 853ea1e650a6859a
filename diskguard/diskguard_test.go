package diskguard_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fraudscore/scorer/diskguard"
)

// disk is a file system whose free space the test sets.
type disk struct{ free atomic.Uint64 }

func (d *disk) Free(string) (uint64, error) { return d.free.Load(), nil }

const mb = 1 << 20

func start(t *testing.T, d *disk, changes chan<- bool) *diskguard.Guard {
	t.Helper()
	g, err := diskguard.Start(diskguard.Options{
		Path: "/data", MinFree: 100 * mb, ResumeFree: 120 * mb, Interval: time.Millisecond, Free: d.Free,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnChange: func(low bool) {
			if changes != nil {
				changes <- low
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

func waitChange(t *testing.T, changes <-chan bool, want bool) {
	t.Helper()
	select {
	case got := <-changes:
		if got != want {
			t.Fatalf("change to low=%v, want low=%v", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no change to low=%v within 5s", want)
	}
}

func TestGuardStopsBelowMinimumAndResumesAboveTheMark(t *testing.T) {
	d := &disk{}
	d.free.Store(500 * mb)
	changes := make(chan bool, 4)
	g := start(t, d, changes)
	if err := g.Writable(); err != nil {
		t.Fatalf("500 MiB free: %v, want writable", err)
	}

	d.free.Store(99 * mb)
	waitChange(t, changes, true)
	err := g.Writable()
	var low *diskguard.LowError
	if !errors.As(err, &low) || !errors.Is(err, diskguard.ErrLow) {
		t.Fatalf("99 MiB free: %v, want a *LowError", err)
	}
	if low.Free != 99*mb || low.MinFree != 100*mb {
		t.Errorf("LowError = %+v, want free 99 MiB and minimum 100 MiB", low)
	}

	// Between the minimum and the resume mark: still stopped, so that a
	// disk at the edge does not flap.
	d.free.Store(110 * mb)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := g.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait at 110 MiB free = %v, want to keep waiting", err)
	}

	waited := make(chan error, 1)
	go func() { waited <- g.Wait(context.Background()) }()
	d.free.Store(120 * mb)
	waitChange(t, changes, false)
	select {
	case err := <-waited:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return when writes resumed")
	}
	if err := g.Writable(); err != nil {
		t.Fatalf("after resume: %v", err)
	}
}

func TestGuardCountsWritesBetweenReadings(t *testing.T) {
	d := &disk{}
	d.free.Store(150 * mb)
	g, err := diskguard.Start(diskguard.Options{Path: "/data", MinFree: 100 * mb, Interval: time.Hour, Free: d.Free,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	// The disk fills while the next reading is an hour away: charged
	// writes make the guard look again before the estimate can be wrong.
	d.free.Store(90 * mb)
	if err := g.Writable(); err != nil {
		t.Fatalf("nothing charged yet: %v (the reading is an hour old, so it cannot know)", err)
	}
	g.Charge(30 * mb)
	if err := g.Writable(); !errors.Is(err, diskguard.ErrLow) {
		t.Fatalf("after 30 MiB charged with 50 MiB of margin: %v, want a fresh reading to stop writes", err)
	}
}

func TestGuardStopsOnENOSPC(t *testing.T) {
	d := &disk{}
	d.free.Store(500 * mb)
	changes := make(chan bool, 4)
	g := start(t, d, changes)
	g.Report(errors.New("some other failure"))
	if err := g.Writable(); err != nil {
		t.Fatalf("after an unrelated error: %v, want writable", err)
	}
	g.Report(fmt.Errorf("badger: write: %w", syscall.ENOSPC))
	waitChange(t, changes, true)
	if err := g.Writable(); !errors.Is(err, diskguard.ErrLow) {
		t.Fatalf("after ENOSPC: %v, want stopped", err)
	}
	// The next reading finds room again: writes resume.
	waitChange(t, changes, false)
}

func TestCheckRefusesAFullDisk(t *testing.T) {
	dir := t.TempDir()
	if err := diskguard.Check(dir, 1); err != nil {
		t.Fatalf("Check with a 1-byte minimum: %v", err)
	}
	err := diskguard.Check(dir, 1<<62)
	if !errors.Is(err, diskguard.ErrLow) {
		t.Fatalf("Check with an impossible minimum = %v, want ErrLow", err)
	}
}
