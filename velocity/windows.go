package velocity

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"strings"
	"time"

	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/kv"
)

// ClosedWindow is a tumbling or session window whose end the watermark
// has passed: its value is final, and it is emitted once.
type ClosedWindow struct {
	Feature string
	Entity  string // the entity's name, e.g. card_id
	Value   string // the entity's value; fields of a composite entity joined by +
	Start   time.Time
	End     time.Time // exclusive for tumbling windows; the last event for sessions
	Result  float64
	Count   int // events in the window that pass the feature's filter
}

// ID identifies the window whatever the retries.
func (w ClosedWindow) ID() string {
	return w.Feature + "|" + w.Entity + "|" + w.Value + "|" + w.Start.UTC().Format(time.RFC3339Nano)
}

// Emitter turns closed windows and late events into entries committed
// with the state they come from (outbox records), and is told when they
// are in Badger.
type Emitter interface {
	ClosedWindow(w ClosedWindow) Entry
	// LateEvent is the copy of a transaction that came for a window
	// already closed, for the batch correction.
	LateEvent(tx *fraud.Transaction) Entry
	Committed(entries []Entry)
}

// An event that comes for a window already closed is dropped from it: its
// identity is recorded under the window's key, for the close to leave it
// out (the event itself is in the entity's log, for the sliding windows),
// under kv.PrefixExcluded:
//
//	x <window key> <txhash:8> -> empty, expiring after a day
func excludedKey(windowKey []byte, txh uint64) []byte {
	k := make([]byte, 0, len(windowKey)+9)
	k = append(k, kv.PrefixExcluded)
	k = append(k, windowKey...)
	return binary.BigEndian.AppendUint64(k, txh)
}

// instanceStream is the stream id of HTTP traffic; Kafka partition p is
// stream p+1.
const instanceStream = 0

// Windows waiting to close are indexed by stream and close time, under
// kv.PrefixWindow:
//
//	w <stream:2> <closeAt:8> <feature name> 0x00 <entity key> 0x00 <start:8> -> empty
//
// closeAt is the end of a tumbling window, or for a session the time of
// an event plus the gap (each event schedules its session's close; the
// last one's emits it, the earlier ones find that it goes on). A window
// closes when its stream's watermark (stream time minus the allowed
// lateness) reaches closeAt.
func windowKey(stream uint16, closeAt int64, feature, entity string, start int64) []byte {
	k := make([]byte, 0, 21+len(feature)+len(entity))
	k = append(k, kv.PrefixWindow)
	k = binary.BigEndian.AppendUint16(k, stream)
	k = binary.BigEndian.AppendUint64(k, uint64(closeAt)^signBit)
	k = append(k, feature...)
	k = append(k, 0)
	k = append(k, entity...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, uint64(start)^signBit)
}

func parseWindowKey(k []byte) (closeAt int64, feature, entity string, start int64, ok bool) {
	if len(k) < 1+2+8+2+8 || k[0] != kv.PrefixWindow {
		return 0, "", "", 0, false
	}
	closeAt = int64(binary.BigEndian.Uint64(k[3:]) ^ signBit)
	rest := k[11 : len(k)-8]
	start = int64(binary.BigEndian.Uint64(k[len(k)-8:]) ^ signBit)
	i := bytes.IndexByte(rest, 0)
	if i < 0 || len(rest) < i+2 || rest[len(rest)-1] != 0 {
		return 0, "", "", 0, false
	}
	return closeAt, string(rest[:i]), string(rest[i+1 : len(rest)-1]), start, true
}

// windowEntries schedules the close of the windows tx's event at t falls
// in, for entity e (key), and reports whether one of them had closed
// already (the event is late for it). prev is the stream's time before
// the event.
func (s *Store) windowEntries(e int, key string, stream uint16, t, prev int64, txh uint64, add func([]byte), exclude func([]byte)) (late bool) {
	lateness := int64(s.opt.AllowedLateness)
	for _, i := range s.set.WindowDefs(e) {
		d := &s.set.Defs()[i]
		var closeAt, start int64
		switch d.Window.Type {
		case features.Tumbling:
			size := int64(d.Window.Size)
			start = t - ((t%size)+size)%size
			closeAt = start + size
		case features.Session:
			start, closeAt = t, t+int64(d.Window.Gap)
		}
		wk := windowKey(stream, closeAt, d.Name, key, start)
		if prev != noTime && closeAt <= prev-lateness {
			late = true
			if d.Window.Type == features.Tumbling {
				exclude(excludedKey(wk, txh))
			}
			continue
		}
		add(wk)
	}
	return late
}

// closeLoop closes windows every interval until the store closes.
func (s *Store) closeLoop(interval time.Duration) {
	s.every(interval, func() {
		if _, err := s.CloseWindows(context.Background()); err != nil && err != ErrClosed {
			s.opt.Logger.Warn("closing windows failed; will retry", "err", err)
		}
	})
}

// CloseWindows emits every window whose stream's watermark has reached its
// close time, each in the same Badger transaction as the removal of its
// schedule, so that it is emitted once whatever the crashes. It returns how
// many it emitted. It runs on its own every CloseInterval once the store
// has an Emitter.
func (s *Store) CloseWindows(ctx context.Context) (int, error) {
	em := s.getEmitter()
	if em == nil {
		return 0, nil
	}
	emitted := 0
	for _, st := range s.streamsSnapshot() {
		if st.now == noTime {
			continue
		}
		n, err := s.closeStream(ctx, em, st.id, st.now-int64(s.opt.AllowedLateness))
		emitted += n
		if err != nil {
			return emitted, err
		}
	}
	return emitted, nil
}

type streamNow struct {
	id  uint16
	now int64
}

func (s *Store) streamsSnapshot() []streamNow {
	out := []streamNow{{id: instanceStream, now: s.streamTime.Load()}}
	s.streamsMu.Lock()
	for id, st := range s.streams {
		out = append(out, streamNow{id: id, now: st.time.Load()})
	}
	s.streamsMu.Unlock()
	return out
}

// closeStream closes the windows of one stream due by watermark wm.
func (s *Store) closeStream(ctx context.Context, em Emitter, stream uint16, wm int64) (int, error) {
	type due struct {
		key              []byte
		feature, entity  string
		start, closeAtNs int64
	}
	var dues []due
	prefix := []byte{kv.PrefixWindow, byte(stream >> 8), byte(stream)}
	for k, err := range kv.Keys(s.db, prefix) {
		if err != nil {
			return 0, err
		}
		if len(dues) >= 1000 {
			break
		}
		k = bytes.Clone(k)
		closeAt, feature, entity, start, ok := parseWindowKey(k)
		if ok && closeAt > wm {
			break // keys sort by close time
		}
		dues = append(dues, due{key: k, feature: feature, entity: entity, start: start, closeAtNs: closeAt})
	}
	if len(dues) == 0 {
		return 0, nil
	}
	var puts []Entry
	var dels [][]byte
	for _, d := range dues {
		dels = append(dels, d.key)
		i := s.set.Index(d.feature)
		if i < 0 || d.entity == "" {
			continue // a feature no longer defined, or a malformed key
		}
		except, err := s.excluded(d.key)
		if err != nil {
			return 0, err
		}
		w, ok, err := s.closedWindow(i, d.entity, d.start, d.closeAtNs, except)
		if err != nil {
			return 0, err
		}
		if ok {
			puts = append(puts, em.ClosedWindow(w))
		}
	}
	if err := s.Write(ctx, puts, dels); err != nil {
		return 0, err
	}
	if len(puts) > 0 {
		em.Committed(puts)
	}
	s.stats.windows.Add(int64(len(puts)))
	return len(puts), nil
}

// closedWindow computes the final value of feature i's window of the
// entity (key) that starts at start; false for a session that goes on.
func (s *Store) closedWindow(i int, key string, start, closeAt int64, except []uint64) (ClosedWindow, bool, error) {
	d := &s.set.Defs()[i]
	sh := s.entityShard(key)
	l, err := s.lockedLog(sh, key)
	if err != nil {
		return ClosedWindow{}, false, err
	}
	defer sh.mu.Unlock()
	name, value, _ := strings.Cut(key, "\x00")
	w := ClosedWindow{Feature: d.Name, Entity: name, Value: strings.ReplaceAll(value, "\x1f", "+")}
	switch d.Window.Type {
	case features.Tumbling:
		w.Result, w.Count = l.Over(s.set, i, start, closeAt, except...)
		w.Start, w.End = time.Unix(0, start).UTC(), time.Unix(0, closeAt).UTC()
	case features.Session:
		first, last, goesOn := l.SessionOf(s.set, i, start)
		if goesOn {
			return ClosedWindow{}, false, nil
		}
		w.Result, w.Count = l.Over(s.set, i, first, last+1)
		w.Start, w.End = time.Unix(0, first).UTC(), time.Unix(0, last).UTC()
	default:
		return ClosedWindow{}, false, nil
	}
	if math.IsNaN(w.Result) {
		w.Result = 0
	}
	return w, true, nil
}

// excluded returns the identities of the events that came after the
// window of key wk had closed.
func (s *Store) excluded(wk []byte) ([]uint64, error) {
	var out []uint64
	for k, err := range kv.Keys(s.db, append([]byte{kv.PrefixExcluded}, wk...)) {
		if err != nil {
			return nil, err
		}
		out = append(out, binary.BigEndian.Uint64(k[len(k)-8:]))
	}
	return out, nil
}
