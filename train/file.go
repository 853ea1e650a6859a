package train

import (
	"compress/gzip"
	"fmt"
	"os"
	"strings"
	"time"
)

// ReadFile reads a training table written by scorer backfill, by its
// extension: .csv or .csv.gz (ReadCSV), or .parquet (ReadParquet).
func ReadFile(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var t *Table
	switch {
	case strings.HasSuffix(path, ".csv"):
		t, err = ReadCSV(f)
	case strings.HasSuffix(path, ".csv.gz"):
		zr, zerr := gzip.NewReader(f)
		if zerr != nil {
			return nil, fmt.Errorf("%s: %w", path, zerr)
		}
		t, err = ReadCSV(zr)
	case strings.HasSuffix(path, ".parquet"):
		t, err = ReadParquet(f)
	default:
		return nil, fmt.Errorf("%s: a table is .csv, .csv.gz or .parquet", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Between returns the rows of t with event time in [from, to); a zero
// bound is open.
func (t *Table) Between(from, to time.Time) *Table {
	var idx []int
	for i, ns := range t.EventTime {
		if !from.IsZero() && ns < from.UnixNano() {
			continue
		}
		if !to.IsZero() && ns >= to.UnixNano() {
			continue
		}
		idx = append(idx, i)
	}
	return t.take(idx)
}
