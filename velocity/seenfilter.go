package velocity

import (
	"sync"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
)

// seenFilter answers "was this transaction_id never seen?" from memory, so
// that a new transaction (the common case) skips the Badger read of the
// seen index. It is a chain of Bloom filters, one per generation of
// filterGenCap ids: a "maybe" still goes to Badger, a "no" is trusted
// only while the chain covers the whole dedup retention. When it grows past
// maxGens the oldest generation is dropped and negatives are distrusted
// (every lookup reads Badger, as without the filter) until the retention
// has passed since then, so memory stays bounded and correctness never
// depends on it.
type seenFilter struct {
	mu        sync.RWMutex
	gens      []filterGen
	maxGens   int
	genCap    int
	retention time.Duration
	// untrustedUntil: before this time a negative answer is not proof.
	untrustedUntil time.Time
}

type filterGen struct {
	f     *bloom.BloomFilter
	n     int
	until time.Time // last insertion
}

const (
	filterGenCap = 1 << 20 // ids per generation: 1.2 MiB at 1% false positives
	filterFP     = 0.01
)

func newSeenFilter(retention time.Duration, maxGens int) *seenFilter {
	return &seenFilter{retention: retention, maxGens: max(1, maxGens), genCap: filterGenCap}
}

// mayContain reports whether id may have been seen; false means it was not.
func (f *seenFilter) mayContain(id string, now time.Time) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if now.Before(f.untrustedUntil) {
		return true
	}
	for i := len(f.gens) - 1; i >= 0; i-- {
		if f.gens[i].f.TestString(id) {
			return true
		}
	}
	return false
}

// add records id as seen.
func (f *seenFilter) add(id string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Generations whose newest id is past retention are no longer needed.
	for len(f.gens) > 0 && now.Sub(f.gens[0].until) > f.retention {
		f.gens = f.gens[1:]
	}
	if len(f.gens) == 0 || f.gens[len(f.gens)-1].n >= f.genCap {
		if len(f.gens) == f.maxGens {
			f.gens = f.gens[1:]
			f.untrustedUntil = now.Add(f.retention)
		}
		f.gens = append(f.gens, filterGen{f: bloom.NewWithEstimates(uint(f.genCap), filterFP)})
	}
	g := &f.gens[len(f.gens)-1]
	g.f.AddString(id)
	g.n++
	g.until = now
}

// distrust makes negatives untrusted for one retention period, for when
// the filter could not be rebuilt completely.
func (f *seenFilter) distrust(now time.Time) {
	f.mu.Lock()
	f.untrustedUntil = now.Add(f.retention)
	f.mu.Unlock()
}
