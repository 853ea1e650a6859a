package backfill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// parquetSource reads a Parquet file whose top-level columns are named
// for the transaction schema's fields (others are ignored), turning each
// row into a JSON document: a null is an absent field; strings and
// integers are written as they are; a timestamp column (TIMESTAMP of any
// unit, the legacy TIMESTAMP_MILLIS/MICROS or INT96) as an RFC 3339 string
// in UTC; a floating-point amount as an integer when it is one; anything
// else as it comes, for validation to refuse.
type parquetSource struct {
	f    *os.File
	file *parquet.File
	cols []parquetCol // by column index
	rgs  []parquet.RowGroup
	rows parquet.Rows
	buf  []parquet.Row
}

type parquetCol struct {
	f    field // -1: not read
	unit time.Duration
	ts   bool // a timestamp: unit per tick, or INT96 when unit is 0
}

func openParquet(path string) (Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	file, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s := &parquetSource{f: f, file: file, rgs: file.RowGroups(), buf: make([]parquet.Row, 256)}
	schema := file.Schema()
	s.cols = make([]parquetCol, len(schema.Columns()))
	for i := range s.cols {
		s.cols[i].f = -1
	}
	found := 0
	for f := range numFields {
		leaf, ok := schema.Lookup(fieldNames[f])
		if !ok || leaf.MaxRepetitionLevel > 0 {
			continue
		}
		c := parquetCol{f: f}
		typ := leaf.Node.Type()
		if lt := typ.LogicalType(); lt != nil {
			if ts, ok := lt.Value.(*format.TimestampType); ok {
				c.ts = true
				switch ts.Unit.Value.(type) {
				case *format.MilliSeconds:
					c.unit = time.Millisecond
				case *format.MicroSeconds:
					c.unit = time.Microsecond
				default:
					c.unit = time.Nanosecond
				}
			}
		} else if ct := typ.ConvertedType(); ct != nil && (*ct == deprecated.TimestampMillis || *ct == deprecated.TimestampMicros) {
			c.ts, c.unit = true, time.Millisecond
			if *ct == deprecated.TimestampMicros {
				c.unit = time.Microsecond
			}
		} else if typ.Kind() == parquet.Int96 {
			c.ts = true
		}
		s.cols[leaf.ColumnIndex] = c
		found++
	}
	if found == 0 {
		f.Close()
		return nil, fmt.Errorf("%s: no column is named for a transaction field (transaction_id, card_id, amount, ...)", path)
	}
	return s, nil
}

func (s *parquetSource) Next(ctx context.Context, b *Block) error {
	b.reset()
	if err := ctx.Err(); err != nil {
		return err
	}
	for len(b.Lines) < blockSize {
		if s.rows == nil {
			if len(s.rgs) == 0 {
				break
			}
			s.rows = s.rgs[0].Rows()
			s.rgs = s.rgs[1:]
		}
		n, err := s.rows.ReadRows(s.buf)
		for _, row := range s.buf[:n] {
			b.Lines = s.appendRow(b.Lines, row)
			b.Lines = append(b.Lines, '\n')
		}
		if errors.Is(err, io.EOF) {
			s.rows.Close()
			s.rows = nil
			continue
		}
		if err != nil {
			return err
		}
	}
	if len(b.Lines) == 0 {
		return io.EOF
	}
	return nil
}

func (s *parquetSource) appendRow(b []byte, row parquet.Row) []byte {
	b = append(b, '{')
	first := true
	for _, v := range row {
		ci := v.Column()
		if ci < 0 || ci >= len(s.cols) || s.cols[ci].f < 0 || v.IsNull() {
			continue
		}
		c := s.cols[ci]
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, fieldNames[c.f]...)
		b = append(b, `":`...)
		b = appendParquetValue(b, c, v)
	}
	return append(b, '}')
}

func appendParquetValue(b []byte, c parquetCol, v parquet.Value) []byte {
	if c.ts {
		var t time.Time
		switch {
		case v.Kind() == parquet.Int96:
			t = int96Time(v.Int96())
		case v.Kind() == parquet.Int64:
			t = tickTime(v.Int64(), c.unit)
		default:
			return appendJSONString(b, v.String())
		}
		b = append(b, '"')
		b = t.AppendFormat(b, time.RFC3339Nano)
		return append(b, '"')
	}
	switch v.Kind() {
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return appendJSONString(b, string(v.ByteArray()))
	case parquet.Int32:
		return strconv.AppendInt(b, int64(v.Int32()), 10)
	case parquet.Int64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case parquet.Float, parquet.Double:
		x := v.Double()
		if v.Kind() == parquet.Float {
			x = float64(v.Float())
		}
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.AppendInt(b, int64(x), 10)
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return append(b, `"not a number"`...)
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case parquet.Boolean:
		return strconv.AppendBool(b, v.Boolean())
	}
	return appendJSONString(b, v.String())
}

// tickTime is n ticks of unit after the Unix epoch, in UTC.
func tickTime(n int64, unit time.Duration) time.Time {
	per := int64(time.Second / unit)
	sec, frac := n/per, n%per
	if frac < 0 {
		sec, frac = sec-1, frac+per
	}
	return time.Unix(sec, frac*int64(unit)).UTC()
}

// int96Time reads the legacy INT96 timestamp: nanoseconds within the day
// (little-endian, the first eight bytes) and the Julian day number.
func int96Time(v deprecated.Int96) time.Time {
	nanos := int64(uint64(v[1])<<32 | uint64(v[0]))
	const unixJulianDay = 2440588
	days := int64(v[2]) - unixJulianDay
	return time.Unix(days*86400, nanos).UTC()
}

func (s *parquetSource) Close() error {
	if s.rows != nil {
		s.rows.Close()
	}
	return s.f.Close()
}
