package backfill

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/fraudscore/scorer/fraud"
)

// decoder turns records (JSON documents in the service's transaction
// schema) into validated transactions, with card numbers in identifiers
// replaced by tokens first. The validation is fraud.DecodeTransaction's,
// with a zero Now: only the fixed floor and ceiling of event_time apply.
//
// Most records of a log are plain: a flat object of known fields whose
// strings are printable ASCII without escapes, an integer amount and an
// event_time such as 2019-01-01T00:00:18Z. The fast path reads those
// without fraud.DecodeTransaction (about 2.7 µs a record, most of a
// backfill's time): it takes the value of each field whose validity does
// not depend on the record (currency, card_id, merchant_id, ...) from a
// cache filled by asking fraud.DecodeTransaction about the value once, and
// checks the rest (transaction_id, amount, event_time) itself, accepting
// only what is plainly valid. Anything else, however slightly unusual,
// goes to the slow path, fraud.DecodeTransaction itself, which decides.
// So the fast path may decline a valid record but never accepts one that
// fraud.DecodeTransaction refuses, nor reads one differently; a
// differential test and a fuzz target pin that.
//
// A decoder is not safe for concurrent use: Read gives each worker its own.
type decoder struct {
	cache [numDict]map[string]cached
	last  [numDict]cached // per field, the last verdict: logs repeat values
	// dict numbers the values of each field as they come: the ids of this
	// decoder's rows. news lists the values numbered since the last take.
	dict     [numDict]map[string]uint32
	news     [numDict][]string
	tokens   int64 // card numbers replaced by tokens
	maxCache int   // values cached per field; a full cache starts over
	buf      []byte
	probe    []byte
}

// cached is the verdict on one value of a field: the id of the value to
// use (a token when the value held a card number), whether it is valid,
// and whether it was tokenized.
type cached struct {
	raw       string // the value as it came
	id        uint32
	ok        bool
	tokenized bool
}

// The transaction fields, by their JSON names. The first numDict are
// strings held in dictionaries (see Log).
type field int

const (
	fCard field = iota
	fCurrency
	fMerchant
	fCategory
	fDevice
	fCountry
	fChannel
	fIP
	fStatus
	fID
	fAmount
	fTime
	numFields
)

// numDict is how many fields are held in dictionaries: those before fID.
const numDict = fID

var fieldNames = [numFields]string{
	fID: "transaction_id", fCard: "card_id", fAmount: "amount", fCurrency: "currency", fTime: "event_time",
	fMerchant: "merchant_id", fCategory: "merchant_category", fDevice: "device_id", fCountry: "country",
	fChannel: "channel", fIP: "ip", fStatus: "status",
}

func fieldOf(name []byte) field {
	switch string(name) {
	case "transaction_id":
		return fID
	case "card_id":
		return fCard
	case "amount":
		return fAmount
	case "currency":
		return fCurrency
	case "event_time":
		return fTime
	case "merchant_id":
		return fMerchant
	case "merchant_category":
		return fCategory
	case "device_id":
		return fDevice
	case "country":
		return fCountry
	case "channel":
		return fChannel
	case "ip":
		return fIP
	case "status":
		return fStatus
	}
	return -1
}

// tokenized reports whether f is an identifier whose card numbers are
// replaced by tokens before validation.
func tokenized(f field) bool {
	return f == fID || f == fCard || f == fMerchant || f == fDevice
}

const required = 1<<fID | 1<<fCard | 1<<fAmount | 1<<fCurrency | 1<<fTime

func newDecoder() *decoder {
	d := &decoder{maxCache: 1 << 16}
	for f := range d.cache {
		d.cache[f] = map[string]cached{}
		d.dict[f] = map[string]uint32{"": 0}
	}
	return d
}

// decode decodes rec into r, appending its transaction_id to *ids (r.id
// says where: offset<<8 | length), with the decoder's own dictionary ids,
// or
// returns the *fraud.ValidationError that says why it is no transaction.
func (d *decoder) decode(rec []byte, r *row, ids *[]byte) error {
	mark := len(*ids)
	if d.fast(rec, r, ids) {
		return nil
	}
	*ids = (*ids)[:mark]
	tx, err := d.slow(rec)
	if err != nil {
		return err
	}
	d.fromTx(&tx, r, ids)
	return nil
}

// slow replaces card numbers in the identifiers of rec by tokens and
// decodes the result with fraud.DecodeTransaction.
func (d *decoder) slow(rec []byte) (fraud.Transaction, error) {
	doc, n := d.tokenizeJSON(rec)
	d.tokens += int64(n)
	return fraud.DecodeTransaction(doc, fraud.Limits{})
}

// fromTx writes tx as a row.
func (d *decoder) fromTx(tx *fraud.Transaction, r *row, ids *[]byte) {
	r.t, r.amount = tx.EventTime.UnixNano(), tx.Amount
	r.f[fCard] = d.number(fCard, tx.CardID)
	r.f[fCurrency] = d.number(fCurrency, tx.Currency)
	r.f[fMerchant] = d.number(fMerchant, tx.MerchantID)
	r.f[fCategory] = d.number(fCategory, tx.MerchantCategory)
	r.f[fDevice] = d.number(fDevice, tx.DeviceID)
	r.f[fCountry] = d.number(fCountry, tx.Country)
	r.f[fChannel] = d.number(fChannel, tx.Channel)
	r.f[fIP] = d.number(fIP, tx.IP)
	r.f[fStatus] = d.number(fStatus, string(tx.Status))
	d.setID(r, ids, []byte(tx.ID))
}

func (d *decoder) setID(r *row, ids *[]byte, id []byte) {
	r.id = uint64(len(*ids))<<8 | uint64(len(id))
	*ids = append(*ids, id...)
}

// number returns the id of value s of field f, numbering it when new.
func (d *decoder) number(f field, s string) uint32 {
	if id, ok := d.dict[f][s]; ok {
		return id
	}
	id := uint32(len(d.dict[f]))
	d.dict[f][s] = id
	d.news[f] = append(d.news[f], s)
	return id
}

// takeNews returns the values numbered since the last call, per field, in
// id order.
func (d *decoder) takeNews() [numDict][]string {
	n := d.news
	d.news = [numDict][]string{}
	return n
}

// tokenizeJSON returns rec with each string member of its top-level
// object that is a tokenized identifier and holds a card number replaced
// by its token, and how many were replaced. A record that is not a JSON
// object is returned as it is: it is invalid, and invalid records are only
// counted, never shown.
func (d *decoder) tokenizeJSON(rec []byte) ([]byte, int) {
	dec := jsontext.NewDecoder(bytes.NewReader(rec), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return rec, 0
	}
	out := append(d.buf[:0], '{')
	n := 0
	var name []byte
	for dec.PeekKind() == '"' {
		rawName, err := dec.ReadValue()
		if err != nil {
			return rec, 0
		}
		rawName = bytes.Clone(rawName) // ReadValue's result is only valid until the next read
		val, err := dec.ReadValue()
		if err != nil {
			return rec, 0
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, rawName...)
		out = append(out, ':')
		name, err = jsontext.AppendUnquote(name[:0], rawName)
		if f := fieldOf(name); err == nil && f >= 0 && tokenized(f) && val.Kind() == '"' {
			if s, err := jsontext.AppendUnquote(nil, val); err == nil && holdsPAN(f, string(s)) {
				out, _ = jsontext.AppendQuote(out, fraud.Tokenize(string(s)))
				n++
				continue
			}
		}
		out = append(out, val...)
	}
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '}' {
		return rec, 0
	}
	out = append(out, '}')
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) || n == 0 {
		// Trailing content (invalid as it is) or nothing replaced.
		return rec, 0
	}
	d.buf = out
	return out, n
}

// fast decodes rec into r when rec is plain (see decoder), and reports
// whether it did. False means only that the slow path must decide.
func (d *decoder) fast(rec []byte, r *row, ids *[]byte) bool {
	var vals [numFields][]byte
	var seen uint32
	b := rec
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipWS(b, i+1)
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		j := plainString(b, i+1)
		if j < 0 {
			return false
		}
		f := fieldOf(b[i+1 : j])
		if f < 0 || seen&(1<<f) != 0 {
			return false // unknown members may repeat names or hold bad UTF-8: let the slow path judge
		}
		seen |= 1 << f
		i = skipWS(b, j+1)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		if f == fAmount {
			j = i
			for j < len(b) && '0' <= b[j] && b[j] <= '9' {
				j++
			}
			if j == i || j-i > 13 || (b[i] == '0' && j-i > 1) {
				return false
			}
			vals[f] = b[i:j]
			i = j
		} else {
			if i >= len(b) || b[i] != '"' {
				return false
			}
			if j = plainString(b, i+1); j < 0 {
				return false
			}
			vals[f] = b[i+1 : j]
			i = j + 1
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return false
		}
		if b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if b[i] != '}' || skipWS(b, i+1) != len(b) {
			return false
		}
		break
	}
	if seen&required != required {
		return false
	}

	// transaction_id: printable ASCII without spaces, 1-128 bytes, no card
	// number (after tokenizing, as the slow path does).
	id := vals[fID]
	tokenizedID := false
	if mayHoldPAN(id) && fraud.IDLooksLikePAN(string(id)) {
		id = []byte(fraud.Tokenize(string(id)))
		tokenizedID = true
	} else if len(id) == 0 || len(id) > fraud.MaxFieldLen || bytes.IndexByte(id, ' ') >= 0 {
		return false
	}

	var amount int64
	for _, c := range vals[fAmount] {
		amount = amount*10 + int64(c-'0')
	}
	if amount > fraud.MaxAmount {
		return false
	}
	t, ok := parseTime(vals[fTime])
	if !ok {
		return false
	}
	tokens := 0
	for f := range numDict {
		r.f[f] = 0
		if seen&(1<<f) == 0 {
			continue
		}
		c := d.lookup(f, vals[f])
		if !c.ok {
			return false
		}
		if c.tokenized {
			tokens++
		}
		r.f[f] = c.id
	}
	if tokenizedID {
		tokens++
	}
	d.tokens += int64(tokens)
	r.t, r.amount = t.UnixNano(), amount
	d.setID(r, ids, id)
	return true
}

// lookup returns the verdict on value v of field f, asking
// fraud.DecodeTransaction on a miss: each field is validated on its own,
// so a record is valid when each of its fields is.
func (d *decoder) lookup(f field, v []byte) cached {
	if c := d.last[f]; c.raw == string(v) && c.raw != "" {
		return c
	}
	m := d.cache[f]
	if c, ok := m[string(v)]; ok {
		d.last[f] = c
		return c
	}
	raw := string(v)
	val := raw
	c := cached{raw: raw}
	if tokenized(f) {
		val = fraud.Tokenize(raw)
		c.tokenized = val != raw
	}
	if c.ok = d.valid(f, val); c.ok {
		c.id = d.number(f, val)
	}
	if len(m) >= d.maxCache {
		clear(m)
	}
	m[raw] = c
	d.last[f] = c
	return c
}

// valid asks fraud.DecodeTransaction whether v is a valid value of field f,
// in a record whose other fields are valid.
func (d *decoder) valid(f field, v string) bool {
	b := append(d.probe[:0], `{"transaction_id":"probe","amount":0,"event_time":"2000-01-01T00:00:00Z"`...)
	if f != fCard {
		b = append(b, `,"card_id":"probe"`...)
	}
	if f != fCurrency {
		b = append(b, `,"currency":"USD"`...)
	}
	b = append(b, `,"`...)
	b = append(b, fieldNames[f]...)
	b = append(b, `":`...)
	b, err := jsontext.AppendQuote(b, v)
	b = append(b, '}')
	d.probe = b
	if err != nil {
		return false
	}
	got, err := fraud.DecodeTransaction(b, fraud.Limits{})
	if err != nil {
		return false
	}
	// The value is taken as it is; make sure validation agrees.
	switch f {
	case fCard:
		return got.CardID == v
	case fCurrency:
		return got.Currency == v
	case fMerchant:
		return got.MerchantID == v
	case fCategory:
		return got.MerchantCategory == v
	case fDevice:
		return got.DeviceID == v
	case fCountry:
		return got.Country == v
	case fChannel:
		return got.Channel == v
	case fIP:
		return got.IP == v
	case fStatus:
		return string(got.Status) == v
	}
	return false
}

// mayHoldPAN reports whether ASCII s could hold a card number: it must
// have 13 digits between two letters (letters end a run of digits; other
// characters only separate groups within it). A cheap test before
// fraud.LooksLikePAN, which decides.
func mayHoldPAN(s []byte) bool {
	n, most := 0, 0
	for _, c := range s {
		// Without branches: the bytes of a hex id are digits or letters
		// at random, which a branch predicts at random.
		k := asciiClass[c]
		n = (n + int(k&classDigit)) * int(1-k>>1)
		most = max(most, n)
	}
	return most >= 13
}

const (
	classDigit  = 1
	classLetter = 2
)

// asciiClass tells ASCII digits and letters.
var asciiClass = func() (t [256]byte) {
	for c := '0'; c <= '9'; c++ {
		t[c] = classDigit
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = classLetter, classLetter
	}
	return t
}()

// plainString returns the index of the quote that closes the JSON string
// starting at b[i], or -1 unless the string is plain: printable ASCII
// without escapes.
func plainString(b []byte, i int) int {
	end := bytes.IndexByte(b[i:], '"')
	if end < 0 {
		return -1
	}
	end += i
	s := b[i:end]
	// Eight bytes at a time: a word is plain unless one of its bytes is
	// below 0x20, above 0x7e or a backslash (the classic tests for a byte
	// less than, more than or equal to a value, which may flag too much
	// but never too little).
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; len(s) >= 8; s = s[8:] {
		x := binary.LittleEndian.Uint64(s)
		y := x ^ (ones * '\\')
		low := (x - ones*0x20) &^ x
		high := (x + ones*(0x7f-0x7e)) | x
		backslash := (y - ones) &^ y
		if (low|high|backslash)&highs != 0 {
			return -1
		}
	}
	for _, c := range s {
		if !plainByte[c] {
			return -1
		}
	}
	return end
}

// plainByte holds the bytes of plain strings: printable ASCII but the
// backslash, which starts an escape.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '\\'
	}
	return t
}()

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// parseTime reads the plain form of an RFC 3339 time in UTC,
// YYYY-MM-DDTHH:MM:SS[.F]Z with one to nine fraction digits, within
// [fraud.MinEventTime, fraud.MaxEventTime]. Anything else is left to the
// slow path.
func parseTime(s []byte) (time.Time, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len(s)-1] != 'Z' {
		return time.Time{}, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range s[i : i+n] {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	hour, minute, sec := num(11, 2), num(14, 2), num(17, 2)
	if year < 0 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	switch frac := s[19 : len(s)-1]; {
	case len(frac) == 0:
	case frac[0] != '.' || len(frac) < 2 || len(frac) > 10:
		return time.Time{}, false
	default:
		if nsec = num(20, len(frac)-1); nsec < 0 {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			nsec *= 10
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Before(fraud.MinEventTime) || t.After(fraud.MaxEventTime) {
		return time.Time{}, false
	}
	return t, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// holdsPAN applies the card-number rule of field f: transaction ids have
// the digest exception (fraud.IDLooksLikePAN).
func holdsPAN(f field, s string) bool {
	if f == fID {
		return fraud.IDLooksLikePAN(s)
	}
	return fraud.LooksLikePAN(s)
}
