package scoring

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/fraudscore/scorer/fraud"
)

// The seen index stores each result in this compact binary form rather
// than as JSON: a stored result is written for every transaction, and its
// size is most of what Badger copies (a 600-byte JSON value cost a third
// of the store's throughput). Feature names are not repeated: the record
// names its feature set, whose names the velocity store keeps.
//
//	version(1) flags(1) decision(1) score(8) featureSet(8)
//	model_version(uvarint len, bytes) reasons(uvarint n, n × code, message)
//	features(uvarint n, n × value)
//
// A value is a varint of v<<1 when v is an integer, else 1 followed by the
// 8 bytes of the float.
const storedVersion = 1

const (
	flagDegraded = 1 << iota
	flagLate
	flagAlert
	// flagProvisional marks a rules-only answer (no model answered, the
	// budget having run out, say): a repeat with time to spare revises it.
	flagProvisional
)

// setProvisional marks a stored result as provisional.
func setProvisional(b []byte) { b[1] |= flagProvisional }

// provisional reports whether a stored result is provisional.
func provisional(b []byte) bool { return len(b) > 1 && b[1]&flagProvisional != 0 }

var decisions = [...]fraud.Decision{fraud.Approve, fraud.Review, fraud.Decline}

var errStored = errors.New("corrupt stored result")

func appendStored(b []byte, r *fraud.Result, featureSet uint64) []byte {
	var flags byte
	if r.Degraded {
		flags |= flagDegraded
	}
	if r.Late {
		flags |= flagLate
	}
	if r.AlertID != "" {
		flags |= flagAlert
	}
	b = append(b, storedVersion, flags, byte(r.Decision.Severity()))
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(r.Score))
	b = binary.BigEndian.AppendUint64(b, featureSet)
	b = appendBytes(b, r.ModelVersion)
	b = binary.AppendUvarint(b, uint64(len(r.Reasons)))
	for _, x := range r.Reasons {
		b = appendBytes(b, x.Code)
		b = appendBytes(b, x.Message)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Features)))
	for _, f := range r.Features {
		if x := int64(f.Value); float64(x) == f.Value && x > -1<<52 && x < 1<<52 {
			b = binary.AppendVarint(b, x<<1)
		} else {
			b = binary.AppendVarint(b, 1)
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(f.Value))
		}
	}
	return b
}

func appendBytes(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeStored is the inverse of appendStored; names maps a feature set to
// its names.
func decodeStored(b []byte, txID string, names func(uint64) ([]string, bool)) (fraud.Result, error) {
	d := decoder{b: b}
	if d.byte() != storedVersion {
		return fraud.Result{}, errStored
	}
	flags := d.byte()
	dec := d.byte()
	r := fraud.Result{TransactionID: txID}
	if int(dec) < len(decisions) {
		r.Decision = decisions[dec]
	}
	r.Score = math.Float64frombits(d.uint64())
	set := d.uint64()
	r.ModelVersion = d.string()
	// Each reason takes at least two bytes and each feature one: a count
	// beyond that is corrupt, which bounds the allocations below.
	nr := d.uvarint()
	if nr > uint64(len(d.b))/2 {
		return fraud.Result{}, errStored
	}
	r.Reasons = make([]fraud.Reason, nr)
	for i := range r.Reasons {
		r.Reasons[i] = fraud.Reason{Code: d.string(), Message: d.string()}
	}
	nf := d.uvarint()
	if nf > uint64(len(d.b)) {
		return fraud.Result{}, errStored
	}
	n := int(nf)
	fnames, ok := names(set)
	if !ok || len(fnames) != n {
		return fraud.Result{}, errors.New("stored result: unknown feature set")
	}
	r.Features = make(fraud.Features, n)
	for i := range r.Features {
		r.Features[i].Name = fnames[i]
		if x := d.varint(); x&1 == 0 {
			r.Features[i].Value = float64(x >> 1)
		} else {
			r.Features[i].Value = math.Float64frombits(d.uint64())
		}
	}
	r.Degraded = flags&flagDegraded != 0
	r.Late = flags&flagLate != 0
	if flags&flagAlert != 0 {
		r.AlertID = fraud.AlertID(txID)
	}
	if d.bad || len(d.b) != 0 {
		return fraud.Result{}, errStored
	}
	return r, nil
}

type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uint64() uint64 {
	if len(d.b) < 8 {
		d.bad = true
		d.b = nil
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.bad = true
		d.b = nil
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
