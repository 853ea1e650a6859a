package velocity_test

import (
	"bufio"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/velocity"
)

// TestMemoryMillionCards measures the process's memory with one million
// distinct cards in the store: one event each, applied and committed by
// 32 goroutines per core as in BenchmarkApply, on a Badger opened with the
// service's options (managed mode, no conflict detection, 3 x 32 MiB
// memtables, 64 MiB block cache) and the store's defaults (up to 1,000,000
// cards cached). It logs the resident set (VmRSS, and its peak VmHWM, from
// /proc/self/status) and the Go heap in use, after a GC. The target
// is an RSS under 512 MiB.
//
// It takes under a minute and is skipped unless SCORER_BENCH_MEMORY=1;
// SCORER_BENCH_MEMPROFILE=FILE also writes the heap profile after the load:
//
//	SCORER_BENCH_MEMORY=1 go test -run=TestMemoryMillionCards -count=1 -v ./velocity
func TestMemoryMillionCards(t *testing.T) {
	if os.Getenv("SCORER_BENCH_MEMORY") != "1" {
		t.Skip("set SCORER_BENCH_MEMORY=1 to load one million cards and measure memory")
	}
	const cards = 1_000_000
	dir := t.TempDir()
	db, err := badger.OpenManaged(badger.DefaultOptions(dir).WithLogger(nil).
		WithDetectConflicts(false).
		WithMemTableSize(32 << 20).
		WithNumMemtables(3).
		WithBlockCacheSize(64 << 20))
	if err != nil {
		t.Fatal(err)
	}
	s, err := velocity.Open(db, velocity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		db.Close()
	})
	before := procStatus(t)

	result := []byte(`{"transaction_id":"x","score":0.1,"decision":"approve"}`)
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	start := time.Now()
	for range 32 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				n := next.Add(1) - 1
				if n >= cards {
					return
				}
				tx := fraud.Transaction{ID: "tx-" + strconv.FormatInt(n, 10), CardID: "card_" + strconv.FormatInt(n, 10),
					Amount: n % 10000, Currency: "USD", MerchantID: "m" + strconv.FormatInt(n%300, 10),
					EventTime: t0.Add(time.Duration(n) * time.Millisecond)}
				op, err := s.Begin(ctx, &tx)
				if err == nil {
					err = op.Commit(ctx, result)
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	for _, card := range []string{"card_0", "card_500000", "card_999999"} {
		f, err := s.FeaturesAt(ctx, card, t0.Add(1000*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := f.Get("card_tx_count_24h"); n != 1 {
			t.Fatalf("%s: card_tx_count_24h = %v, want 1", card, n)
		}
	}

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	after := procStatus(t)
	if path := os.Getenv("SCORER_BENCH_MEMPROFILE"); path != "" {
		writeHeapProfile(t, path)
	}
	debug.FreeOSMemory()
	released := procStatus(t)
	st := s.Stats()
	t.Logf("loaded %d cards in %s (%.0f tx/s, %.1f tx per Badger commit)", cards, elapsed.Round(time.Millisecond),
		float64(cards)/elapsed.Seconds(), float64(st.Commits)/float64(max(1, st.Batches)))
	t.Logf("RSS before load: %d MiB", before["VmRSS"]>>10)
	t.Logf("RSS after load and GC: %d MiB (target < 512 MiB)", after["VmRSS"]>>10)
	t.Logf("RSS peak (VmHWM): %d MiB", after["VmHWM"]>>10)
	t.Logf("Go heap in use: %d MiB; idle and not yet returned to the OS: %d MiB; Go runtime total (Sys): %d MiB",
		ms.HeapInuse>>20, (ms.HeapIdle-ms.HeapReleased)>>20, ms.Sys>>20)
	t.Logf("RSS after debug.FreeOSMemory: %d MiB", released["VmRSS"]>>10)
	t.Logf("Badger directory on disk: %d MiB", diskUsage(t, dir)>>20)
	if rss := after["VmRSS"] >> 10; rss >= 512 {
		t.Logf("target missed: RSS %d MiB is %.0f%% over 512 MiB", rss, 100*(float64(rss)/512-1))
	}
}

// writeHeapProfile writes the heap profile as of the last GC to path.
func writeHeapProfile(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
}

// diskUsage is the space the files under dir take on disk (Badger's value
// log is a large sparse file, so its length says little).
func diskUsage(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		t.Logf("size of %s: %v", dir, err)
	}
	return n
}

// procStatus returns the kB figures of /proc/self/status (VmRSS, VmHWM...).
func procStatus(t *testing.T) map[string]int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.HasSuffix(v, " kB") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, " kB")), 10, 64)
		if err == nil {
			out[k] = n
		}
	}
	return out
}
