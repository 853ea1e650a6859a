package velocity

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/badger/v4"

	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/kv"
)

// Key layouts in Badger, under the prefixes of package kv. Every key of an
// entity starts with its prefix so that the entity loads with one prefix
// iteration, never a full scan.
//
//	kv.PrefixEvent: v <entity name> 0x00 <value> 0x00 <time:8> <txhash:8> -> amount, filter mask, hashes
//	kv.PrefixSeen:  s <transaction_id> -> seen record with the stored result
//	kv.PrefixMeta:  m <name> -> store metadata
var keyStreamTime = append([]byte{kv.PrefixMeta}, "/stream_time"...)

const (
	entityShards = 256
	claimShards  = 1024
)

// ErrClosed is returned by operations on a closed Store.
var ErrClosed = kv.ErrClosed

// Options configures a Store. Zero values take the defaults in brackets.
type Options struct {
	// Features are the feature definitions [features.Default()].
	Features *features.Set
	// AllowedLateness is how far behind stream time an event may be before
	// it is late [2m].
	AllowedLateness time.Duration
	// DedupRetention is how long, in wall-clock time, a transaction_id is
	// remembered with its result [24h].
	DedupRetention time.Duration
	// MaxEventsPerCard bounds the events kept for one entity (a card, a
	// device...) [10000]. Past it the oldest events are dropped from the
	// online state, so counts of longer windows saturate for it.
	MaxEventsPerCard int
	// MaxCachedCards bounds the entities held in memory [1,000,000];
	// colder ones are evicted and reloaded from Badger when seen again.
	MaxCachedCards int
	// MaxSeenFilterIDs bounds the in-memory filter that lets new
	// transaction_ids skip the Badger read of the seen index [16Mi, about
	// 20 MiB]. Past it, lookups read Badger until a retention has passed.
	MaxSeenFilterIDs int
	// Logger receives the store's few operational messages [slog.Default()].
	Logger *slog.Logger
	// Now is the wall clock, used for dedup retention [time.Now].
	Now func() time.Time
	// SweepInterval is how often events past retention are deleted from
	// Badger for cards that went quiet [10m]; negative turns it off.
	SweepInterval time.Duration
	// WriteGate, when set, is asked before each group commit, with its size
	// in bytes. An error fails the group's writes before any reaches
	// Badger (the disk is nearly full, say); each Commit returns it.
	WriteGate func(bytes int) error
	// WriteError, when set, is told about every failed Badger commit.
	WriteError func(error)
	// CloseInterval is how often windows are closed, once SetEmitter was
	// called [100ms].
	CloseInterval time.Duration
}

// Store is the velocity state and the seen-transactions index. Hot state is
// cached in memory; writes are group-committed (kv.Committer), and an Op's
// Commit returns only when its writes are in Badger. It is safe for
// concurrent use.
type Store struct {
	db       *badger.DB
	kv       *kv.Committer
	opt      Options
	set      *features.Set
	perShard int

	entities [entityShards]entityShard
	claims   [claimShards]claimShard
	seen     *seenFilter
	known    *seenFilter // entities that may have events in Badger

	streamTime atomic.Int64 // largest event time seen, Unix ns; math.MinInt64 when none
	persisted  atomic.Int64 // stream time last written successfully; noTime before the first
	streamsMu  sync.Mutex
	streams    map[uint16]*Stream // Kafka partitions' streams, by id
	emitter    atomic.Pointer[Emitter]

	sweepStop chan struct{}
	sweepDone chan struct{}
	loops     sync.WaitGroup // background loops besides the sweep
	closeOnce sync.Once

	featureSet  uint64
	featureSets map[uint64][]string // read-only after Open

	stats storeStats
}

// entityLog is one entity's events, guarded by its shard's mutex.
type entityLog struct {
	features.Log
	pending int32 // events applied in memory whose commit has not finished
}

type entityShard struct {
	mu        sync.Mutex
	m         map[string]*entityLog
	evictions uint64 // bumped on every eviction, to detect stale loads
}

type claimShard struct {
	mu sync.Mutex
	m  map[string]*claim
}

// claim marks a transaction_id as being processed, so that concurrent
// duplicates wait for the first one instead of counting twice. It carries
// what the claimant's transaction looks like, so that a waiter reusing the
// id for another transaction is refused as a conflict.
type claim struct {
	done   chan struct{}
	result []byte // set before done is closed when the commit succeeded
	card   string
	t      int64
	fp     fingerprint
	hasFP  bool
	// waits counts the attempts that have waited on this claim; tests
	// read it to know a concurrent duplicate is waiting.
	waits atomic.Int32
}

func newClaim(tx *fraud.Transaction) *claim {
	return &claim{done: make(chan struct{}), card: tx.CardID, t: eventNanos(tx.EventTime), fp: fingerprintOf(tx), hasFP: true}
}

type storeStats struct {
	commits, loads, evictions, late, dropped, truncated atomic.Int64
	windows, lateForWindow                              atomic.Int64
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
	Windows       int64 // tumbling and session windows closed and emitted
	LateForWindow int64 // events that came for a window already closed
	StreamTime    time.Time
	Watermark     time.Time
	HasStreamTime bool
}

// Open returns a Store on db, which the caller owns and closes after the
// Store. It loads the persisted stream time.
//
// db must be opened in managed mode (kv.Open): the Store's kv.Committer is
// its only writer and hands out commit timestamps itself, so that reads on
// the hot path (the seen index, card loads) never wait for commits in
// flight, as they would in Badger's default mode. Other packages write
// through Write.
func Open(db *badger.DB, opt Options) (_ *Store, err error) {
	if opt.Features == nil {
		opt.Features = features.Default()
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
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MaxSeenFilterIDs <= 0 {
		opt.MaxSeenFilterIDs = 16 << 20
	}
	s := &Store{
		db:       db,
		opt:      opt,
		set:      opt.Features,
		perShard: max(1, opt.MaxCachedCards/entityShards),
	}
	for i := range s.entities {
		s.entities[i].m = make(map[string]*entityLog)
	}
	for i := range s.claims {
		s.claims[i].m = make(map[string]*claim)
	}
	s.streams = map[uint16]*Stream{}
	s.streamTime.Store(noTime)
	s.persisted.Store(noTime)
	s.kv, err = kv.NewCommitter(db, kv.CommitterOptions{
		WriteGate:           opt.WriteGate,
		WriteError:          opt.WriteError,
		GroupEntry:          s.streamTimeEntry,
		GroupEntryCommitted: s.streamTimeCommitted,
	})
	if err != nil {
		return nil, fmt.Errorf("velocity: %w", err)
	}
	defer func() {
		if err != nil {
			s.kv.Close()
		}
	}()
	err = db.View(func(txn *badger.Txn) error {
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
	// Stream time never runs ahead of the clock. A store written before
	// that rule (or by a host whose clock was fast) may hold one in the
	// future, even centuries ahead from a wrapped time: every event would
	// be late and every card trimmed. Bring it back to now.
	if now := opt.Now().UnixNano(); s.streamTime.Load() > now {
		opt.Logger.Warn("stored stream time is ahead of the clock; resetting it to now",
			"stored", time.Unix(0, s.streamTime.Load()).UTC(), "now", time.Unix(0, now).UTC())
		s.streamTime.Store(now)
	}
	if err := s.loadFeatureSets(); err != nil {
		return nil, fmt.Errorf("velocity: feature sets: %w", err)
	}
	if err := s.rebuildKnownCards(); err != nil {
		return nil, fmt.Errorf("velocity: rebuild known cards: %w", err)
	}
	if err := s.rebuildSeenFilter(); err != nil {
		return nil, fmt.Errorf("velocity: rebuild seen filter: %w", err)
	}
	s.sweepStop, s.sweepDone = make(chan struct{}), make(chan struct{})
	if opt.SweepInterval == 0 {
		opt.SweepInterval = 10 * time.Minute
	}
	if opt.SweepInterval > 0 {
		go func() {
			defer close(s.sweepDone)
			s.sweepLoop(opt.SweepInterval)
		}()
	} else {
		close(s.sweepDone)
	}
	if opt.CloseInterval <= 0 {
		opt.CloseInterval = 100 * time.Millisecond
	}
	s.loops.Add(1)
	go func() {
		defer s.loops.Done()
		s.closeLoop(opt.CloseInterval)
	}()
	return s, nil
}

const noTime = -1 << 63

// SetEmitter makes the store track tumbling and session windows and emit
// them to e when they close, with copies of events late for a closed
// window (see CloseWindows). Without one (Kafka off) windows are not
// tracked; their running values are features all the same.
func (s *Store) SetEmitter(e Emitter) { s.emitter.Store(&e) }

func (s *Store) getEmitter() Emitter {
	if p := s.emitter.Load(); p != nil {
		return *p
	}
	return nil
}

// Features returns the feature definitions in use.
func (s *Store) Features() *features.Set { return s.set }

// Close waits for pending commits and stops the committer. Operations begun
// before Close must be committed or aborted first.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.sweepStop)
		<-s.sweepDone
		s.loops.Wait()
		s.kv.Close()
	})
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
		Commits:       s.stats.commits.Load(),
		Batches:       s.kv.Batches(),
		CardLoads:     s.stats.loads.Load(),
		Evictions:     s.stats.evictions.Load(),
		Late:          s.stats.late.Load(),
		DroppedLate:   s.stats.dropped.Load(),
		TruncatedHot:  s.stats.truncated.Load(),
		Windows:       s.stats.windows.Load(),
		LateForWindow: s.stats.lateForWindow.Load(),
	}
	for i := range s.entities {
		sh := &s.entities[i]
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

func hashBytes(b []byte) uint64 { return xxhash.Sum64(b) }

// eventNanos is t in Unix nanoseconds, saturated rather than wrapped:
// time.Time.UnixNano is undefined outside 1678-2262, and a wrapped time
// once turned an event of 1600 into one of 2184. The bounds, ±2^62 ns
// (1823-2116), leave room for window arithmetic (time minus a window)
// without overflow. Validation keeps event times well inside; this is the
// last line.
func eventNanos(t time.Time) int64 {
	switch {
	case t.Before(minNanoTime):
		return -1 << 62
	case t.After(maxNanoTime):
		return 1 << 62
	}
	return t.UnixNano()
}

var (
	minNanoTime = time.Unix(0, -1<<62)
	maxNanoTime = time.Unix(0, 1<<62)
)

// entityKey is the cache and Badger key of entity e of tx: the entity's
// name and its value, and false when tx has no such entity.
func (s *Store) entityKey(e int, tx *fraud.Transaction) (string, bool) {
	v, ok := s.set.Key(e, tx)
	if !ok {
		return "", false
	}
	return entityKeyOf(s.set.Entities()[e].Name, v), true
}

func entityKeyOf(name, value string) string { return name + "\x00" + value }

// entityName is the entity part of an entity key, for messages (never
// the value: it may be a card token).
func entityName(key string) string {
	name, _, _ := strings.Cut(key, "\x00")
	return name
}

func (s *Store) entityShard(key string) *entityShard {
	return &s.entities[hashString(key)%entityShards]
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
	return st - int64(s.set.Retention()) - int64(s.opt.AllowedLateness)
}

// advance raises a stream time to t and returns the stream time before.
func advance(st *atomic.Int64, t int64) int64 {
	for {
		old := st.Load()
		if t <= old {
			return old
		}
		if st.CompareAndSwap(old, t) {
			return old
		}
	}
}

// Stream is a separate stream time for lateness and for closing windows,
// such as one Kafka partition's: the largest event time seen on it.
type Stream struct {
	id   uint16
	time atomic.Int64
}

// NewStream returns the stream of a Kafka partition. It is not seeded from
// the instance's stream time: one partition may lag another, and its
// events are not late for that. A partition's stream is kept across calls,
// so that a consumer restarted on it continues its stream time.
func (s *Store) NewStream(partition int) *Stream {
	id := uint16(partition + 1)
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	if st, ok := s.streams[id]; ok {
		return st
	}
	st := &Stream{id: id}
	st.time.Store(noTime)
	s.streams[id] = st
	return st
}

// rebuildSeenFilter loads the ids of the seen index (keys only) into the
// filter. Each counts as seen now, which keeps it at least as long as
// Badger does.
func (s *Store) rebuildSeenFilter() error {
	gens := (s.opt.MaxSeenFilterIDs + filterGenCap - 1) / filterGenCap
	s.seen = newSeenFilter(s.opt.DedupRetention, gens)
	now := s.opt.Now()
	n := 0
	for k, err := range kv.Keys(s.db, []byte{kv.PrefixSeen}) {
		if err != nil {
			return err
		}
		s.seen.add(string(k[1:]), now)
		n++
	}
	if n > gens*filterGenCap {
		s.seen.distrust(now)
	}
	return nil
}

// featureSetPrefix keys the name lists of feature sets that results were
// stored with: m/featureset/<id:8> -> names joined by newlines.
var featureSetPrefix = append([]byte{kv.PrefixMeta}, "/featureset/"...)

// FeatureSetID identifies the current definitions' feature names, so that
// stored results can carry values without names.
func (s *Store) FeatureSetID() uint64 { return s.featureSet }

// FeatureNames returns the feature names of a feature set id that results
// were stored with, this run or an earlier one.
func (s *Store) FeatureNames(id uint64) ([]string, bool) {
	names, ok := s.featureSets[id]
	return names, ok
}

// loadFeatureSets reads every known feature set and registers the current
// one. It runs in Open, before the committer starts.
func (s *Store) loadFeatureSets() error {
	names := s.set.Names()
	joined := strings.Join(names, "\n")
	s.featureSet = xxhash.Sum64String(joined)
	s.featureSets = map[uint64][]string{s.featureSet: names}
	known := false
	err := s.db.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.Prefix = featureSetPrefix
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()[len(featureSetPrefix):]
			if len(k) != 8 {
				continue
			}
			id := binary.BigEndian.Uint64(k)
			if id == s.featureSet {
				known = true
				continue
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			s.featureSets[id] = strings.Split(string(v), "\n")
		}
		return nil
	})
	if err != nil || known {
		return err
	}
	b := kv.NewBatch()
	defer b.Release()
	key := binary.BigEndian.AppendUint64(append([]byte(nil), featureSetPrefix...), s.featureSet)
	b.Set(key, []byte(joined), 0)
	return s.kv.CommitNow(b)
}

// knownCardsRetention: a card's anchor event is kept for ever, so the
// known-cards filter never forgets by age; only its size bound can make it
// distrust itself (then every miss reads Badger, as without it).
const knownCardsRetention = 100 * 365 * 24 * time.Hour

// rebuildKnownCards loads the entities that have events in Badger (keys
// only, one entry per entity) into the known-entities filter.
func (s *Store) rebuildKnownCards() error {
	gens := (s.opt.MaxSeenFilterIDs*4 + filterGenCap - 1) / filterGenCap
	s.known = newSeenFilter(knownCardsRetention, gens)
	now := s.opt.Now()
	n := 0
	var last []byte
	for k, err := range kv.Keys(s.db, []byte{kv.PrefixEvent}) {
		if err != nil {
			return err
		}
		if len(k) < 19 {
			continue
		}
		key := k[1 : len(k)-17]
		if bytes.Equal(key, last) {
			continue
		}
		last = append(last[:0], key...)
		s.known.add(string(key), now)
		n++
	}
	if n > gens*filterGenCap {
		s.known.distrust(now)
	}
	return nil
}
