package features

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/fraudscore/scorer/fraud"
)

// Event is one transaction of an entity as its features need it.
type Event struct {
	T      int64  // event time, Unix nanoseconds
	Amount int64  // minor units
	TxH    uint64 // hash of transaction_id: identity within the entity
	Mask   uint64 // bit i set: the transaction passes the set's filter i
	// Vals are hashes of the entity's distinct_count fields (Entity slots),
	// 0 when the field is empty.
	Vals [maxSlots]uint32
}

// Less orders events by event time, then identity, so that equal times
// have a stable order.
func (e Event) Less(o Event) bool {
	if e.T != o.T {
		return e.T < o.T
	}
	return e.TxH < o.TxH
}

// Key returns the value identifying entity e in tx (the fields joined by
// a unit separator), and false when one of them is empty: the transaction
// then has no such entity, and its features over it are their empty
// values.
func (s *Set) Key(e int, tx *fraud.Transaction) (string, bool) {
	fields := s.entities[e].Fields
	if len(fields) == 1 {
		v := fieldValue(tx, fields[0])
		return v, v != ""
	}
	var b strings.Builder
	for i, f := range fields {
		v := fieldValue(tx, f)
		if v == "" {
			return "", false
		}
		if i > 0 {
			b.WriteByte(0x1f)
		}
		b.WriteString(v)
	}
	return b.String(), true
}

func fieldValue(tx *fraud.Transaction, f string) string {
	switch f {
	case "card_id":
		return tx.CardID
	case "device_id":
		return tx.DeviceID
	case "merchant_id":
		return tx.MerchantID
	case "ip":
		return tx.IP
	case "country":
		return tx.Country
	case "merchant_category":
		return tx.MerchantCategory
	case "channel":
		return tx.Channel
	case "currency":
		return tx.Currency
	}
	return ""
}

// Mask returns which of the set's filters tx passes.
func (s *Set) Mask(tx *fraud.Transaction) uint64 {
	var m uint64
	for i := range s.filters {
		if s.filters[i].Match(tx) {
			m |= 1 << i
		}
	}
	return m
}

// Event returns tx as an event of entity e, with mask from Mask.
func (s *Set) Event(e int, tx *fraud.Transaction, mask uint64, t int64) Event {
	ev := Event{T: t, Amount: tx.Amount, TxH: HashID(tx.ID), Mask: mask}
	for i, f := range s.entities[e].slots {
		ev.Vals[i] = hash32(fieldValue(tx, f))
	}
	return ev
}

func hash32(s string) uint32 {
	if s == "" {
		return 0
	}
	h := uint32(xxhash.Sum64String(s))
	if h == 0 {
		h = 1
	}
	return h
}

// Log is one entity's events in event-time order, within retention. It is
// not safe for concurrent use.
type Log struct {
	Events []Event
}

// Find returns the index where e belongs and whether an event with the
// same time and identity is already there.
func (l *Log) Find(e Event) (int, bool) {
	i := sort.Search(len(l.Events), func(i int) bool { return !l.Events[i].Less(e) })
	return i, i < len(l.Events) && l.Events[i].T == e.T && l.Events[i].TxH == e.TxH
}

// Insert adds e in order and returns its index. Events mostly arrive in
// order, so this is usually an append.
func (l *Log) Insert(e Event) int {
	n := len(l.Events)
	if n == 0 || l.Events[n-1].Less(e) {
		l.Events = append(l.Events, e)
		return n
	}
	i, _ := l.Find(e)
	l.Events = slices.Insert(l.Events, i, e)
	return i
}

// RemoveAt deletes the event at i.
func (l *Log) RemoveAt(i int) { l.Events = slices.Delete(l.Events, i, i+1) }

// TrimBefore drops events with time < horizon, calling drop for each, and
// returns how many were dropped. With keepLast the newest of them stays as
// an anchor, so that the time since an entity's previous transaction is
// known however long ago it was.
func (l *Log) TrimBefore(horizon int64, keepLast bool, drop func(Event)) int {
	n := 0
	for n < len(l.Events) && l.Events[n].T < horizon {
		n++
	}
	if keepLast && n > 0 {
		n--
	}
	if n == 0 {
		return 0
	}
	if drop != nil {
		for _, e := range l.Events[:n] {
			drop(e)
		}
	}
	// Shift down rather than re-slice, so that the backing array does not
	// keep growing at its end while its head is dead.
	l.Events = append(l.Events[:0], l.Events[n:]...)
	return n
}

// Compute writes into out (indexed like the set's features) the values of
// entity e's features as of time t. selfAt, when >= 0, is the index of the
// transaction being scored: it is in every window it falls in, and is not
// its own predecessor for seconds_since_prev.
func (l *Log) Compute(s *Set, e int, t int64, selfAt int, out []float64) {
	ev := l.Events
	// hi is one past the last event with time <= t.
	hi := sort.Search(len(ev), func(i int) bool { return ev[i].T > t })
	for _, i := range s.perEntity[e] {
		d := &s.defs[i]
		bit := s.bit[i]
		if d.Agg == SincePrev {
			out[i] = sincePrev(ev[:hi], t, selfAt, bit)
			continue
		}
		var lo int
		switch d.Window.Type {
		case Sliding:
			from := t - int64(d.Window.Size)
			lo = sort.Search(hi, func(i int) bool { return ev[i].T > from })
		case Tumbling:
			size := int64(d.Window.Size)
			start := t - floorMod(t, size)
			lo = sort.Search(hi, func(i int) bool { return ev[i].T >= start })
		case Session:
			lo = sessionStart(ev[:hi], t, d.Window)
		}
		out[i] = aggregate(d, s.slot[i], bit, ev[lo:hi])
	}
}

// Empty writes into out the values of entity e's features for a
// transaction without that entity (an empty device_id, say): 0, and -1 for
// seconds_since_prev.
func (s *Set) Empty(e int, out []float64) {
	for _, i := range s.perEntity[e] {
		out[i] = 0
		if s.defs[i].Agg == SincePrev {
			out[i] = -1
		}
	}
}

func floorMod(t, m int64) int64 {
	r := t % m
	if r < 0 {
		r += m
	}
	return r
}

// sessionStart is the index of the first event of the session that ends
// with ev's last event: going back while gaps stay under Gap and within
// MaxSpan of t.
func sessionStart(ev []Event, t int64, w Window) int {
	i := len(ev) - 1
	if i < 0 {
		return 0
	}
	from := t - int64(w.MaxSpan)
	for i > 0 && ev[i].T-ev[i-1].T < int64(w.Gap) && ev[i-1].T > from {
		i--
	}
	return i
}

func sincePrev(ev []Event, t int64, selfAt int, bit int) float64 {
	for j := len(ev) - 1; j >= 0; j-- {
		if j == selfAt || (bit >= 0 && ev[j].Mask&(1<<bit) == 0) {
			continue
		}
		return float64(t-ev[j].T) / float64(time.Second)
	}
	return -1
}

func aggregate(d *Def, slot, bit int, ev []Event) float64 {
	pass := func(e *Event) bool { return bit < 0 || e.Mask&(1<<bit) != 0 }
	switch d.Agg {
	case Count:
		if bit < 0 {
			return float64(len(ev))
		}
		n := 0
		for j := range ev {
			if pass(&ev[j]) {
				n++
			}
		}
		return float64(n)
	case Sum, Avg:
		var sum, n int64
		for j := range ev {
			if pass(&ev[j]) {
				sum += ev[j].Amount
				n++
			}
		}
		if d.Agg == Sum {
			return float64(sum)
		}
		if n == 0 {
			return 0
		}
		return float64(sum) / float64(n)
	case Min, Max:
		found := false
		var m int64
		for j := range ev {
			if !pass(&ev[j]) {
				continue
			}
			a := ev[j].Amount
			if !found || (d.Agg == Min && a < m) || (d.Agg == Max && a > m) {
				m, found = a, true
			}
		}
		return float64(m)
	case Last:
		for j := len(ev) - 1; j >= 0; j-- {
			if pass(&ev[j]) {
				return float64(ev[j].Amount)
			}
		}
		return 0
	case DistinctCount:
		var stack [64]uint32
		hs := stack[:0]
		for j := range ev {
			if v := ev[j].Vals[slot]; v != 0 && pass(&ev[j]) {
				hs = append(hs, v)
			}
		}
		slices.Sort(hs)
		return float64(len(slices.Compact(hs)))
	}
	return 0
}

// HashID is the identity of a transaction within an entity's log.
func HashID(id string) uint64 { return xxhash.Sum64String(id) }

// Over returns feature i's value over the events of the log with time in
// [from, to), but those whose identity (TxH) is in except, and how many of
// them passed its filter: the value of a closed tumbling or session window
// (except being the events that came after it closed).
func (l *Log) Over(s *Set, i int, from, to int64, except ...uint64) (float64, int) {
	ev := l.Events
	lo := sort.Search(len(ev), func(j int) bool { return ev[j].T >= from })
	hi := sort.Search(len(ev), func(j int) bool { return ev[j].T >= to })
	if len(except) > 0 {
		kept := make([]Event, 0, hi-lo)
		for _, e := range ev[lo:hi] {
			if !slices.Contains(except, e.TxH) {
				kept = append(kept, e)
			}
		}
		ev, lo, hi = kept, 0, len(kept)
	}
	d := &s.defs[i]
	bit := s.bit[i]
	n := 0
	for j := lo; j < hi; j++ {
		if bit < 0 || ev[j].Mask&(1<<bit) != 0 {
			n++
		}
	}
	if d.Agg == SincePrev {
		return 0, n
	}
	return aggregate(d, s.slot[i], bit, ev[lo:hi]), n
}

// SessionOf returns the first and last event times of the session of
// feature i's window that holds an event at time t, and whether the log
// has a later event within the gap (the session goes on past t).
func (l *Log) SessionOf(s *Set, i int, t int64) (first, last int64, goesOn bool) {
	w := s.defs[i].Window
	ev := l.Events
	hi := sort.Search(len(ev), func(j int) bool { return ev[j].T > t })
	if hi < len(ev) && ev[hi].T-t < int64(w.Gap) {
		return 0, 0, true
	}
	if hi == 0 {
		return t, t, false
	}
	lo := sessionStart(ev[:hi], t, w)
	return ev[lo].T, ev[hi-1].T, false
}

// WindowDefs returns, for entity e, the indexes of its features over
// tumbling or session windows: the windows that close and are emitted.
func (s *Set) WindowDefs(e int) []int {
	var out []int
	for _, i := range s.perEntity[e] {
		if t := s.defs[i].Window.Type; t == Tumbling || t == Session {
			out = append(out, i)
		}
	}
	return out
}
