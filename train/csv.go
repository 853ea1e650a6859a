package train

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ReadCSV reads a training table in the CSV that `scorer backfill` writes:
// a header row, then one row per transaction. The header names
// transaction_id, card_id and event_time, then the features, then label
// when the table is labelled; the columns are found by name, and every
// column that is none of those four is a feature, in header order.
// event_time is RFC 3339 (any fraction of a second), label is 0 or 1, and
// a feature is a number as strconv.ParseFloat reads it (NaN and Inf
// included); an empty feature cell reads as NaN, which the model treats
// as missing. Errors give the line and column, never a cell's text, which
// could hold a card number.
func ReadCSV(r io.Reader) (*Table, error) {
	src, err := newCSVSource(r)
	if err != nil {
		return nil, err
	}
	return ReadFrom(src)
}

type csvSource struct {
	r        *csv.Reader
	header   []string
	idCol    int
	cardCol  int
	timeCol  int
	labelCol int   // -1 when unlabelled
	featCols []int // column of each feature
	names    []string
}

var errNoHeader = errors.New("train: CSV has no header row")

func newCSVSource(r io.Reader) (*csvSource, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errNoHeader
	}
	if err != nil {
		return nil, fmt.Errorf("train: CSV header: %w", csvErr(err))
	}
	s := &csvSource{r: cr, header: slices.Clone(header), idCol: -1, cardCol: -1, timeCol: -1, labelCol: -1}
	var errs []error
	for i, h := range s.header {
		h = strings.TrimSpace(h)
		s.header[i] = h
		if slices.Index(s.header[:i], h) >= 0 {
			errs = append(errs, fmt.Errorf("train: CSV header: column %q is repeated", h))
			continue
		}
		switch h {
		case "transaction_id":
			s.idCol = i
		case "card_id":
			s.cardCol = i
		case "event_time":
			s.timeCol = i
		case "label":
			s.labelCol = i
		case "":
			errs = append(errs, fmt.Errorf("train: CSV header: column %d has no name", i+1))
		default:
			s.featCols = append(s.featCols, i)
			s.names = append(s.names, h)
		}
	}
	for _, c := range []struct {
		name string
		col  int
	}{{"transaction_id", s.idCol}, {"card_id", s.cardCol}, {"event_time", s.timeCol}} {
		if c.col < 0 {
			errs = append(errs, fmt.Errorf("train: CSV header has no %s column", c.name))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func (s *csvSource) Header() ([]string, bool) { return s.names, s.labelCol >= 0 }

func (s *csvSource) Next(row *Row) error {
	rec, err := s.r.Read()
	if err == io.EOF {
		return io.EOF
	}
	if err != nil {
		return fmt.Errorf("train: CSV: %w", csvErr(err))
	}
	line, _ := s.r.FieldPos(0)
	bad := func(col int, what string) error {
		return fmt.Errorf("train: CSV line %d, column %s: %s", line, s.header[col], what)
	}
	// The record's strings share one allocation per line; clone the ones
	// kept so that the table does not hold every line.
	row.TransactionID = strings.Clone(rec[s.idCol])
	row.CardID = strings.Clone(rec[s.cardCol])
	if row.TransactionID == "" {
		return bad(s.idCol, "empty")
	}
	ts, err := time.Parse(time.RFC3339Nano, rec[s.timeCol])
	if err != nil {
		return bad(s.timeCol, "not an RFC 3339 time")
	}
	row.EventTime = ts
	for k, c := range s.featCols {
		v := rec[c]
		if v == "" {
			row.Features[k] = math.NaN()
			continue
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return bad(c, "not a number")
		}
		row.Features[k] = x
	}
	if s.labelCol >= 0 {
		switch rec[s.labelCol] {
		case "0":
			row.Label = false
		case "1":
			row.Label = true
		default:
			return bad(s.labelCol, "not 0 or 1")
		}
	}
	return nil
}

// csvErr keeps the position of a csv.ParseError and drops the rest, which
// is safe as it is but may grow to quote the input.
func csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
	}
	return err
}
