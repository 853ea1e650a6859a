package velocity

import (
	"encoding/binary"
	"errors"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/fraudscore/scorer/fraud"
)

// seenRecord is the value of the seen-transactions index: what a repeat of
// a transaction_id needs to be answered (the stored result), to update its
// status (card and event time locate its event), and to be told apart from
// a different transaction reusing the id (the fingerprint).
type seenRecord struct {
	status fraud.Status
	t      int64
	card   string
	fp     fingerprint
	hasFP  bool // records written before fingerprints have none
	result []byte
}

// fingerprint holds a 32-bit hash of each field that gives a transaction
// its meaning, beside the card and event time that the record keeps in
// full. A repeat whose fields hash differently is another transaction
// reusing the id, not a retry. 32 bits a field is plenty: a collision only
// lets a conflicting repeat through as a duplicate, as before fingerprints.
type fingerprint [len(fingerprintFields)]uint32

// fingerprintFields are the compared fields in fingerprint order. status is
// not among them: a repeat with a new status is the outcome of a known
// transaction (see updateStatus).
var fingerprintFields = [...]string{"amount", "currency", "merchant_id", "merchant_category", "device_id", "country", "channel", "ip"}

func fingerprintOf(tx *fraud.Transaction) fingerprint {
	var a [8]byte
	binary.BigEndian.PutUint64(a[:], uint64(tx.Amount))
	return fingerprint{
		uint32(hashBytes(a[:])),
		uint32(hashString(tx.Currency)),
		uint32(hashString(tx.MerchantID)),
		uint32(hashString(tx.MerchantCategory)),
		uint32(hashString(tx.DeviceID)),
		uint32(hashString(tx.Country)),
		uint32(hashString(tx.Channel)),
		uint32(hashString(tx.IP)),
	}
}

// ConflictError is returned when a transaction_id that is already stored
// arrives with different fields: an idempotency key reused for another
// payment. Answering it as a duplicate would silently change its meaning.
type ConflictError struct {
	ID     string
	Fields []string // the fields that differ, in API order
}

func (e *ConflictError) Error() string {
	return "velocity: transaction_id reused with different " + strings.Join(e.Fields, ", ")
}

// ErrConflict matches every *ConflictError with errors.Is.
var ErrConflict = errors.New("velocity: transaction_id reused with different fields")

func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// conflict compares tx with what is known of the stored transaction; it
// returns nil when tx is a retry of it (or nothing can be compared).
func conflict(tx *fraud.Transaction, card string, t int64, fp fingerprint, hasFP bool) error {
	var fields []string
	if card != "" && tx.CardID != card {
		fields = append(fields, "card_id")
	}
	if hasFP {
		got := fingerprintOf(tx)
		for i := range fp {
			if i == 2 && t != noTime && eventNanos(tx.EventTime) != t {
				fields = append(fields, "event_time") // API order: after currency
			}
			if got[i] != fp[i] {
				fields = append(fields, fingerprintFields[i])
			}
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return &ConflictError{ID: tx.ID, Fields: fields}
}

// Seen record layouts. Version 1 (no fingerprint) is still read.
//
//	v1: 1, status, event time (8), card length (uvarint), card, result
//	v2: 2, status, event time (8), fingerprint (32), card length, card, result
const (
	seenV1 = 1
	seenV2 = 2
)

func encodeSeen(tx *fraud.Transaction, result []byte) []byte {
	return encodeSeenRecord(seenRecord{status: tx.Status, t: eventNanos(tx.EventTime), card: tx.CardID,
		fp: fingerprintOf(tx), hasFP: true, result: result})
}

func encodeSeenRecord(r seenRecord) []byte {
	v := make([]byte, 0, 44+len(r.card)+len(r.result))
	if r.hasFP {
		v = append(v, seenV2, statusCode(r.status))
		v = binary.BigEndian.AppendUint64(v, uint64(r.t))
		for _, h := range r.fp {
			v = binary.BigEndian.AppendUint32(v, h)
		}
	} else {
		v = append(v, seenV1, statusCode(r.status))
		v = binary.BigEndian.AppendUint64(v, uint64(r.t))
	}
	v = binary.AppendUvarint(v, uint64(len(r.card)))
	v = append(v, r.card...)
	return append(v, r.result...)
}

func decodeSeen(v []byte) (seenRecord, error) {
	if len(v) < 11 || (v[0] != seenV1 && v[0] != seenV2) || int(v[1]) >= len(statusCodes) {
		return seenRecord{}, errCorrupt
	}
	r := seenRecord{status: statusCodes[v[1]], t: int64(binary.BigEndian.Uint64(v[2:]))}
	p := 10
	if v[0] == seenV2 {
		if len(v) < p+4*len(r.fp)+1 {
			return seenRecord{}, errCorrupt
		}
		for i := range r.fp {
			r.fp[i] = binary.BigEndian.Uint32(v[p:])
			p += 4
		}
		r.hasFP = true
	}
	n, m := binary.Uvarint(v[p:])
	if m <= 0 || uint64(len(v)-p-m) < n {
		return seenRecord{}, errCorrupt
	}
	p += m
	r.card = string(v[p : p+int(n)])
	r.result = append([]byte(nil), v[p+int(n):]...)
	return r, nil
}

var statusCodes = [...]fraud.Status{fraud.StatusUnknown, fraud.StatusApproved, fraud.StatusDeclined, fraud.StatusFailed}

func statusCode(s fraud.Status) byte {
	for i, x := range statusCodes {
		if x == s {
			return byte(i)
		}
	}
	return 0
}

// Lookup returns the stored result of a transaction_id, if it was seen.
func (s *Store) Lookup(id string) ([]byte, bool, error) {
	rec, ok, err := s.lookupSeen(id)
	return rec.result, ok, err
}

func (s *Store) lookupSeen(id string) (seenRecord, bool, error) {
	var rec seenRecord
	found := false
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(seenKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return item.Value(func(v []byte) error {
			var err error
			rec, err = decodeSeen(v)
			return err
		})
	})
	return rec, found, err
}
