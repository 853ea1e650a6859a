package backfill

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// csvSource reads a CSV file whose header names the transaction schema's
// fields (unknown columns are ignored), turning each row into a JSON
// document: an empty cell is an absent field; amount is written as a JSON
// number when it reads as one, else as a string, so that validation says
// what is wrong with it.
type csvSource struct {
	f    *os.File
	r    *csv.Reader
	cols []field // per column; -1 for an ignored one
}

func openCSV(path string) (Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		f.Close()
		if err == io.EOF {
			return nil, fmt.Errorf("%s: empty, want a header row", path)
		}
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	s := &csvSource{f: f, r: r}
	var have uint32
	for _, name := range header {
		fl := fieldOf([]byte(strings.TrimSpace(strings.TrimPrefix(name, "\ufeff"))))
		if fl >= 0 && have&(1<<fl) != 0 {
			f.Close()
			return nil, fmt.Errorf("%s: header names %s twice", path, fieldNames[fl])
		}
		if fl >= 0 {
			have |= 1 << fl
		}
		s.cols = append(s.cols, fl)
	}
	if have&(1<<fTime|1<<fID) != 1<<fTime|1<<fID {
		f.Close()
		return nil, fmt.Errorf("%s: the header must name the transaction fields (transaction_id, card_id, amount, currency, event_time, ...)", path)
	}
	return s, nil
}

func (s *csvSource) Next(ctx context.Context, b *Block) error {
	b.reset()
	if err := ctx.Err(); err != nil {
		return err
	}
	for len(b.Lines) < blockSize {
		rec, err := s.r.Read()
		if err == io.EOF {
			break
		}
		if errors.Is(err, csv.ErrFieldCount) {
			b.Invalid = append(b.Invalid, "record: wrong number of CSV fields")
			continue
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			b.Invalid = append(b.Invalid, "record: malformed CSV")
			continue
		}
		if err != nil {
			return err
		}
		b.Lines = appendCSVRecord(b.Lines, s.cols, rec)
		b.Lines = append(b.Lines, '\n')
	}
	if len(b.Lines) == 0 && len(b.Invalid) == 0 {
		return io.EOF
	}
	return nil
}

func (s *csvSource) Close() error { return s.f.Close() }

func appendCSVRecord(b []byte, cols []field, rec []string) []byte {
	b = append(b, '{')
	first := true
	for i, v := range rec {
		f := cols[i]
		if f < 0 || v == "" {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, fieldNames[f]...)
		b = append(b, `":`...)
		if f == fAmount && isJSONNumber(v) {
			b = append(b, v...)
		} else {
			b = appendJSONString(b, v)
		}
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string, escaping only what JSON
// requires. Invalid UTF-8 is kept as it is, for validation to refuse.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// isJSONNumber reports whether s is a JSON number literal.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	start := i
	if n := digits(); n == 0 || (n > 1 && s[start] == '0') {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}
