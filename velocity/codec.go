package velocity

import (
	"encoding/binary"
	"errors"

	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/kv"
)

const signBit = 1 << 63

// eventPrefix is the key prefix of an entity's events:
// v <entity name> 0x00 <value> 0x00.
func eventPrefix(key string) []byte {
	k := make([]byte, 0, len(key)+2)
	k = append(k, kv.PrefixEvent)
	k = append(k, key...)
	return append(k, 0)
}

func eventKey(key string, t int64, txh uint64) []byte {
	k := make([]byte, 0, len(key)+18)
	k = append(k, kv.PrefixEvent)
	k = append(k, key...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, uint64(t)^signBit)
	return binary.BigEndian.AppendUint64(k, txh)
}

func seenKey(id string) []byte {
	k := make([]byte, 0, len(id)+1)
	k = append(k, kv.PrefixSeen)
	return append(k, id...)
}

// encodeEventValue lays out an event's value: amount (varint), filter
// mask (uvarint), then the distinct-count hashes (4 bytes each).
func encodeEventValue(e features.Event) []byte {
	v := make([]byte, 0, 24)
	v = binary.AppendVarint(v, e.Amount)
	v = binary.AppendUvarint(v, e.Mask)
	n := len(e.Vals)
	for n > 0 && e.Vals[n-1] == 0 {
		n--
	}
	for _, h := range e.Vals[:n] {
		v = binary.BigEndian.AppendUint32(v, h)
	}
	return v
}

var errCorrupt = errors.New("corrupt record")

func decodeEventValue(v []byte, e *features.Event) error {
	amount, n := binary.Varint(v)
	if n <= 0 {
		return errCorrupt
	}
	mask, m := binary.Uvarint(v[n:])
	if m <= 0 {
		return errCorrupt
	}
	rest := v[n+m:]
	if len(rest)%4 != 0 || len(rest)/4 > len(e.Vals) {
		return errCorrupt
	}
	e.Amount, e.Mask = amount, mask
	for i := 0; i < len(rest)/4; i++ {
		e.Vals[i] = binary.BigEndian.Uint32(rest[4*i:])
	}
	return nil
}
