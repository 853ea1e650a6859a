package fraud

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
)

// Feature is one named feature value.
type Feature struct {
	Name  string
	Value float64
}

// Features is an ordered set of named values. It is a slice rather than a
// map because it is built once per transaction on the hot path; it encodes
// as a JSON object in its own order.
type Features []Feature

// Get returns the value of the named feature and whether it is present.
func (f Features) Get(name string) (float64, bool) {
	for _, x := range f {
		if x.Name == name {
			return x.Value, true
		}
	}
	return 0, false
}

// AppendJSON appends f as a JSON object to b.
func (f Features) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	for i, x := range f {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, x.Name)
		b = append(b, ':')
		b = AppendNumber(b, x.Value)
	}
	return append(b, '}')
}

// AppendNumber appends v as a JSON number: integers without a fraction,
// others with the fewest digits that round-trip. NaN and infinities, which
// JSON cannot carry, are written as 0.
func AppendNumber(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, '0')
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.AppendInt(b, int64(v), 10)
	}
	// The same format as encoding/json: plain decimal in [1e-6, 1e21),
	// otherwise an exponent without a leading zero (1e-7, not 1e-07).
	f := byte('f')
	if a := math.Abs(v); a < 1e-6 || a >= 1e21 {
		f = 'e'
	}
	b = strconv.AppendFloat(b, v, f, -1, 64)
	if n := len(b); f == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	return b
}

// MarshalJSON encodes f as a JSON object.
func (f Features) MarshalJSON() ([]byte, error) {
	if f == nil {
		return []byte("{}"), nil
	}
	return f.AppendJSON(nil), nil
}

// UnmarshalJSON decodes a JSON object of numbers, sorted by name.
func (f *Features) UnmarshalJSON(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		*f = nil
		return nil
	}
	var m map[string]float64
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	out := make(Features, 0, len(m))
	for k, v := range m {
		out = append(out, Feature{Name: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	*f = out
	return nil
}
