package velocity

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/badger/v4"
)

// Key prefixes in Badger. Every key of a card starts with its prefix so
// that the card loads with one prefix iteration, never a full scan.
const (
	prefixEvent = 'e' // e <card_id> 0x00 <time:8> <txhash:8> -> amount, flags, merchant
	prefixSeen  = 's' // s <transaction_id> -> seen record with the stored result
	prefixMeta  = 'm' // m <name> -> store metadata
)

var keyStreamTime = []byte("m/stream_time")

const (
	cardShards  = 256
	claimShards = 1024
	// maxBatch bounds one group commit, well under Badger's transaction
	// limit (about 15% of the 64 MiB memtable).
	maxBatchOps   = 1024
	maxBatchBytes = 4 << 20
)

// ErrClosed is returned by operations on a closed Store.
var ErrClosed = errors.New("velocity: store closed")

// Options configures a Store. Zero values take the defaults in brackets.
type Options struct {
	// Definitions are the features to compute [DefaultDefinitions()].
	Definitions []Definition
	// AllowedLateness is how far behind stream time an event may be before
	// it is late [2m].
	AllowedLateness time.Duration
	// DedupRetention is how long, in wall-clock time, a transaction_id is
	// remembered with its result [24h].
	DedupRetention time.Duration
	// MaxEventsPerCard bounds the events kept for one card [10000]. Past
	// it the oldest events are dropped from the online state, so counts of
	// longer windows saturate for such a card (see the README).
	MaxEventsPerCard int
	// MaxCachedCards bounds the cards held in memory [1,000,000]; colder
	// cards are evicted and reloaded from Badger when seen again.
	MaxCachedCards int
	// Logger receives the store's few operational messages [slog.Default()].
	Logger *slog.Logger
}

// Store is the velocity state and the seen-transactions index. Hot state is
// cached in memory; writes are group-committed, and an Op's Commit returns
// only when its writes are in Badger. It is safe for concurrent use.
type Store struct {
	db        *badger.DB
	opt       Options
	defs      []Definition
	maxWindow int64
	perShard  int

	cards  [cardShards]cardShard
	claims [claimShards]claimShard

	streamTime atomic.Int64 // largest event time seen, Unix ns; math.MinInt64 when none

	mu      sync.RWMutex // guards closed and sends on commits
	closed  bool
	commits chan *commitReq
	done    chan struct{}

	stats storeStats
}

type cardShard struct {
	mu sync.Mutex
	m  map[string]*cardLog
}

type claimShard struct {
	mu sync.Mutex
	m  map[string]*claim
}

// claim marks a transaction_id as being processed, so that concurrent
// duplicates wait for the first one instead of counting twice.
type claim struct {
	done   chan struct{}
	result []byte // set before done is closed when the commit succeeded
}

type storeStats struct {
	commits, batches, loads, evictions, late, dropped, truncated atomic.Int64
}

// Stats are counters for operators.
type Stats struct {
	CachedCards   int
	Commits       int64 // operations committed
	Batches       int64 // Badger transactions used for them
	CardLoads     int64 // cards loaded from Badger on a cache miss
	Evictions     int64 // cards evicted from the cache
	Late          int64 // events older than the watermark
	DroppedLate   int64 // late events beyond retention, scored but not kept
	TruncatedHot  int64 // events dropped because a card exceeded MaxEventsPerCard
	StreamTime    time.Time
	Watermark     time.Time
	HasStreamTime bool
}

// Open returns a Store on db, which the caller owns and closes after the
// Store. It loads the persisted stream time.
func Open(db *badger.DB, opt Options) (*Store, error) {
	if opt.Definitions == nil {
		opt.Definitions = DefaultDefinitions()
	}
	if err := validate(opt.Definitions); err != nil {
		return nil, fmt.Errorf("velocity: %w", err)
	}
	if opt.AllowedLateness <= 0 {
		opt.AllowedLateness = 2 * time.Minute
	}
	if opt.DedupRetention <= 0 {
		opt.DedupRetention = 24 * time.Hour
	}
	if opt.MaxEventsPerCard <= 0 {
		opt.MaxEventsPerCard = 10000
	}
	if opt.MaxCachedCards <= 0 {
		opt.MaxCachedCards = 1_000_000
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	s := &Store{
		db:       db,
		opt:      opt,
		defs:     opt.Definitions,
		perShard: max(1, opt.MaxCachedCards/cardShards),
		commits:  make(chan *commitReq, 4096),
		done:     make(chan struct{}),
	}
	for _, d := range s.defs {
		s.maxWindow = max(s.maxWindow, int64(d.Window))
	}
	for i := range s.cards {
		s.cards[i].m = make(map[string]*cardLog)
	}
	for i := range s.claims {
		s.claims[i].m = make(map[string]*claim)
	}
	s.streamTime.Store(noTime)
	err := db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(keyStreamTime)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			if len(v) == 8 {
				s.streamTime.Store(int64(binary.BigEndian.Uint64(v)))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("velocity: read stream time: %w", err)
	}
	go s.commitLoop()
	return s, nil
}

const noTime = -1 << 63

// Definitions returns the feature definitions in use.
func (s *Store) Definitions() []Definition { return s.defs }

// Close waits for pending commits and stops the committer. Operations begun
// before Close must be committed or aborted first.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.commits)
	s.mu.Unlock()
	<-s.done
	return nil
}

// Watermark returns the stream time minus the allowed lateness, and false
// when no event was seen yet.
func (s *Store) Watermark() (time.Time, bool) {
	st := s.streamTime.Load()
	if st == noTime {
		return time.Time{}, false
	}
	return time.Unix(0, st-int64(s.opt.AllowedLateness)).UTC(), true
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	st := Stats{
		Commits:      s.stats.commits.Load(),
		Batches:      s.stats.batches.Load(),
		CardLoads:    s.stats.loads.Load(),
		Evictions:    s.stats.evictions.Load(),
		Late:         s.stats.late.Load(),
		DroppedLate:  s.stats.dropped.Load(),
		TruncatedHot: s.stats.truncated.Load(),
	}
	for i := range s.cards {
		sh := &s.cards[i]
		sh.mu.Lock()
		st.CachedCards += len(sh.m)
		sh.mu.Unlock()
	}
	if t := s.streamTime.Load(); t != noTime {
		st.HasStreamTime = true
		st.StreamTime = time.Unix(0, t).UTC()
		st.Watermark = time.Unix(0, t-int64(s.opt.AllowedLateness)).UTC()
	}
	return st
}

func hashString(s string) uint64 { return xxhash.Sum64String(s) }

func merchantHash(m string) uint32 {
	if m == "" {
		return 0
	}
	h := uint32(xxhash.Sum64String(m))
	if h == 0 {
		h = 1
	}
	return h
}

func (s *Store) cardShard(card string) *cardShard {
	return &s.cards[hashString(card)%cardShards]
}

func (s *Store) claimShard(id string) *claimShard {
	return &s.claims[hashString(id)%claimShards]
}

// horizon is the oldest event time the online state keeps.
func (s *Store) horizon() int64 {
	st := s.streamTime.Load()
	if st == noTime {
		return noTime
	}
	return st - s.maxWindow - int64(s.opt.AllowedLateness)
}

// advance raises stream time to t and returns the stream time before.
func (s *Store) advance(t int64) int64 {
	for {
		old := s.streamTime.Load()
		if t <= old {
			return old
		}
		if s.streamTime.CompareAndSwap(old, t) {
			return old
		}
	}
}
