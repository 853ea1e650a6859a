package backfill

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"

	"github.com/fraudscore/scorer/fraud"
)

// Log is a list of distinct transactions (by transaction_id), held
// compactly: 64 bytes a transaction without pointers, its identifiers in
// one byte arena and its other strings in per-field dictionaries, so that
// millions of them cost the garbage collector next to nothing. Tx returns
// one as a fraud.Transaction.
type Log struct {
	// rows and ids grow by fixed chunks, never by copying what they hold.
	rows [][]row
	n    int
	ids  [][]byte          // transaction ids, back to back
	dict [numDict][]string // per field, by id; id 0 is ""
	idx  [numDict]map[string]uint32
	seen map[uint64]uint32 // rows by hash of transaction_id
	dups map[string]struct{}
	// repeated lists the transaction ids dedupe found more than once.
	repeated []string
}

// row is one transaction. Strings other than the id are dictionary ids.
type row struct {
	t      int64  // event time, Unix nanoseconds
	amount int64  // minor units
	id     uint64 // where transaction_id is in Log.ids: chunk<<(idBits+8) | offset<<8 | length
	f      [numDict]uint32
}

// Chunks are large enough for several huge pages (see adviseHugePages).
const (
	rowChunk = 1 << 17 // rows, 8 MiB
	idBits   = 23
	idChunk  = 1 << idBits // bytes
)

// at returns row i.
func (l *Log) at(i int) *row { return &l.rows[i/rowChunk][i%rowChunk] }

// push appends r. Chunks are made whole, but for the first, which grows
// fourfold from small so that a small log stays small, and jumps to whole
// before it costs much copying.
func (l *Log) push(r *row) {
	if l.n%rowChunk == 0 {
		l.rows = append(l.rows, nil)
	}
	c := &l.rows[len(l.rows)-1]
	if len(*c) == cap(*c) {
		least := 256
		if len(l.rows) > 1 {
			least = rowChunk
		}
		*c = grown(*c, rowChunk, least)
	}
	*c = append(*c, *r)
	l.n++
}

// pushID stores id and returns where it is, as row.id says.
func (l *Log) pushID(id []byte) uint64 {
	if len(l.ids) == 0 || len(l.ids[len(l.ids)-1])+len(id) > idChunk {
		l.ids = append(l.ids, nil)
	}
	c := len(l.ids) - 1
	if b := &l.ids[c]; len(*b)+len(id) > cap(*b) {
		least := 4096
		if c > 0 {
			least = idChunk
		}
		*b = grown(*b, idChunk, least)
	}
	off := len(l.ids[c])
	l.ids[c] = append(l.ids[c], id...)
	return uint64(c)<<(idBits+8) | uint64(off)<<8 | uint64(len(id))
}

// grown returns s with four times the room, at least least, and whole
// (of capacity full, with huge pages advised) once that is within 1/16.
func grown[T any](s []T, full, least int) []T {
	n := max(4*cap(s), least)
	if n*16 >= full {
		n = full
	}
	g := make([]T, len(s), n)
	if n == full {
		adviseHugePages(asBytes(g[:n]))
	}
	copy(g, s)
	return g
}

// NewLog returns an empty Log.
func NewLog() *Log {
	l := &Log{}
	for f := range l.dict {
		l.dict[f] = []string{""}
		l.idx[f] = map[string]uint32{"": 0}
	}
	return l
}

// Len is the number of transactions.
func (l *Log) Len() int { return l.n }

// Tx returns transaction i. Its strings share the Log's memory.
func (l *Log) Tx(i int) fraud.Transaction {
	var tx fraud.Transaction
	l.tx(i, &tx)
	return tx
}

func (l *Log) tx(i int, tx *fraud.Transaction) {
	r := l.at(i)
	tx.ID = l.id(r)
	tx.Amount = r.amount
	tx.EventTime = time.Unix(0, r.t).UTC()
	tx.CardID = l.dict[fCard][r.f[fCard]]
	tx.Currency = l.dict[fCurrency][r.f[fCurrency]]
	tx.MerchantID = l.dict[fMerchant][r.f[fMerchant]]
	tx.MerchantCategory = l.dict[fCategory][r.f[fCategory]]
	tx.DeviceID = l.dict[fDevice][r.f[fDevice]]
	tx.Country = l.dict[fCountry][r.f[fCountry]]
	tx.Channel = l.dict[fChannel][r.f[fChannel]]
	tx.IP = l.dict[fIP][r.f[fIP]]
	tx.Status = fraud.Status(l.dict[fStatus][r.f[fStatus]])
}

// Repeated returns the transaction ids that Read found in more than one
// record (it kept the first), each once, in the order of their first
// repeat. The strings share the Log's memory.
func (l *Log) Repeated() []string { return l.repeated }

// id returns r's transaction_id. Bytes in the arena are never changed
// once written, so the string stays valid.
func (l *Log) id(r *row) string {
	c, off, n := r.id>>(idBits+8), r.id>>8&(idChunk-1), r.id&0xff
	if n == 0 {
		return ""
	}
	return unsafe.String(&l.ids[c][off], int(n))
}

// Append adds tx, a valid transaction, unless its transaction_id is in
// the log already, and reports whether it did.
func (l *Log) Append(tx *fraud.Transaction) bool {
	var r row
	r.t, r.amount = tx.EventTime.UnixNano(), tx.Amount
	r.f[fCard] = l.intern(fCard, tx.CardID)
	r.f[fCurrency] = l.intern(fCurrency, tx.Currency)
	r.f[fMerchant] = l.intern(fMerchant, tx.MerchantID)
	r.f[fCategory] = l.intern(fCategory, tx.MerchantCategory)
	r.f[fDevice] = l.intern(fDevice, tx.DeviceID)
	r.f[fCountry] = l.intern(fCountry, tx.Country)
	r.f[fChannel] = l.intern(fChannel, tx.Channel)
	r.f[fIP] = l.intern(fIP, tx.IP)
	r.f[fStatus] = l.intern(fStatus, string(tx.Status))
	return l.add(r, xxhash.Sum64String(tx.ID), unsafe.Slice(unsafe.StringData(tx.ID), len(tx.ID)))
}

// add appends r with transaction_id id (of hash h) unless the id is in
// the log already, and reports whether it did.
func (l *Log) add(r row, h uint64, id []byte) bool {
	if l.seen == nil {
		l.index()
	}
	if i, ok := l.seen[h]; ok {
		if l.id(l.at(int(i))) == string(id) {
			return false
		}
		// Another id with the same hash: rare enough for a map of strings.
		if _, ok := l.dups[string(id)]; ok {
			return false
		}
		l.dups[string(id)] = struct{}{}
	} else {
		l.seen[h] = uint32(l.n)
	}
	r.id = l.pushID(id)
	l.push(&r)
	return true
}

// index builds the index of transaction ids, which doneAdding dropped.
func (l *Log) index() {
	l.seen, l.dups = make(map[uint64]uint32, l.n), map[string]struct{}{}
	for i := range l.n {
		id := l.id(l.at(i))
		if h := xxhash.Sum64String(id); l.seenHash(h) {
			l.dups[id] = struct{}{}
		} else {
			l.seen[h] = uint32(i)
		}
	}
}

func (l *Log) seenHash(h uint64) bool {
	_, ok := l.seen[h]
	return ok
}

// doneAdding drops the index of transaction ids, for the memory to serve
// what comes next. Append builds it again if need be.
func (l *Log) doneAdding() { l.seen, l.dups = nil, nil }

// pushUnchecked appends r with transaction_id id without looking for the
// id: Read fills a new Log so, then calls dedupe once.
func (l *Log) pushUnchecked(r *row, id []byte) {
	r.id = l.pushID(id)
	l.push(r)
}

// dedupe removes each transaction whose transaction_id came before, and
// returns how many it removed. Sorting the hashes of the ids (a radix sort:
// 20 ms for a million) finds the few hashes seen twice, the only ones
// whose ids need comparing; a map of every id cost several times that,
// in the one goroutine that collects what the decoders read.
func (l *Log) dedupe() int {
	hashes := l.idHashes()
	buf := make([]uint64, len(hashes))
	adviseHugePages(asBytes(buf))
	sorted := radixSort(hashes, buf)
	twice := map[uint64]bool{}
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			twice[sorted[i]] = true
		}
	}
	if len(twice) == 0 {
		return 0
	}
	seen := map[string]bool{} // kept once; true: seen again
	w := 0
	for i := range l.n {
		if id := l.id(l.at(i)); twice[xxhash.Sum64String(id)] {
			if again, ok := seen[id]; ok {
				if !again {
					seen[id] = true
					l.repeated = append(l.repeated, id)
				}
				continue
			}
			seen[id] = false
		}
		*l.at(w) = *l.at(i)
		w++
	}
	removed := l.n - w
	for k := range l.rows {
		l.rows[k] = l.rows[k][:min(max(w-k*rowChunk, 0), len(l.rows[k]))]
	}
	for len(l.rows) > 0 && len(l.rows[len(l.rows)-1]) == 0 {
		l.rows = l.rows[:len(l.rows)-1]
	}
	l.n = w
	return removed
}

// idHashes returns the hash of each row's transaction_id, computed on
// every core.
func (l *Log) idHashes() []uint64 {
	hashes := make([]uint64, l.n)
	adviseHugePages(asBytes(hashes))
	var wg sync.WaitGroup
	for k := range l.rows {
		wg.Go(func() {
			for j := range l.rows[k] {
				hashes[k*rowChunk+j] = xxhash.Sum64String(l.id(&l.rows[k][j]))
			}
		})
	}
	wg.Wait()
	return hashes
}

// radixSort sorts a, using buf (as long) for room, and returns the sorted
// slice: a or buf.
func radixSort(a, buf []uint64) []uint64 {
	var counts [1 << 16]int
	for shift := 0; shift < 64; shift += 16 {
		clear(counts[:])
		for _, v := range a {
			counts[v>>shift&0xffff]++
		}
		sum := 0
		for i, c := range counts {
			counts[i], sum = sum, sum+c
		}
		for _, v := range a {
			d := v >> shift & 0xffff
			buf[counts[d]] = v
			counts[d]++
		}
		a, buf = buf, a
	}
	return a
}

// intern returns the dictionary id of value s of field f, adding it.
func (l *Log) intern(f field, s string) uint32 {
	if id, ok := l.idx[f][s]; ok {
		return id
	}
	id := uint32(len(l.dict[f]))
	l.dict[f] = append(l.dict[f], s)
	l.idx[f][s] = id
	return id
}

func (l *Log) isSorted() bool {
	last := int64(math.MinInt64)
	for _, c := range l.rows {
		for k := range c {
			if c[k].t < last {
				return false
			}
			last = c[k].t
		}
	}
	return true
}

// sorted returns a view of l sorted by event time, stably: equal times
// keep their order. It shares l's memory, and is l itself when l is
// sorted already, as logs mostly are. The view takes no transactions.
func (l *Log) sorted() *Log {
	if l.isSorted() {
		return l
	}
	type key struct {
		t int64
		i int
	}
	keys := make([]key, 0, l.n)
	for _, c := range l.rows {
		for k := range c {
			keys = append(keys, key{c[k].t, len(keys)})
		}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := cmp.Compare(a.t, b.t); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	v := &Log{ids: l.ids, dict: l.dict, repeated: l.repeated}
	for _, k := range keys {
		v.push(l.at(k.i))
	}
	return v
}
