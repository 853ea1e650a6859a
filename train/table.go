// Package train holds the training table that `scorer backfill` writes
// (one row per transaction: its ids, event time, features and label), the
// time-based split, and the logistic-regression trainer that writes a model
// in the JSON format of model.ParseLogistic.
//
//	t, err := train.ReadCSV(f)
//	tr, valid := train.SplitByTime(t, 0.2)
//	m, err := train.FitLogistic(tr, features, train.LogisticOptions{Version: "logreg-7"})
//	scores, err := m.Score(valid)
//	// pick thresholds on valid with package eval, then
//	m.Thresholds = model.Thresholds{Review: r, Decline: d}
//	data, err := m.JSON()
package train

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// Table is a training table in columns: row i is TransactionID[i],
// CardID[i], EventTime[i], Columns[k][i] for each feature Names[k], and
// Labels[i] (true: fraud). Labels is nil for an unlabelled table.
//
// A reader that has the data in columns (Parquet) fills a Table and calls
// Validate; one that has rows implements Source for ReadFrom.
type Table struct {
	TransactionID []string
	CardID        []string
	EventTime     []int64 // Unix nanoseconds
	Names         []string
	Columns       [][]float64
	Labels        []bool
}

// Len returns the number of rows.
func (t *Table) Len() int { return len(t.TransactionID) }

// Time returns the event time of row i, in UTC.
func (t *Table) Time(i int) time.Time { return time.Unix(0, t.EventTime[i]).UTC() }

// Column returns the values of the named feature, and whether the table
// has it.
func (t *Table) Column(name string) ([]float64, bool) {
	if k := slices.Index(t.Names, name); k >= 0 {
		return t.Columns[k], true
	}
	return nil, false
}

// Validate reports a table whose columns differ in length or whose
// feature names are empty or repeated.
func (t *Table) Validate() error {
	n := len(t.TransactionID)
	var errs []error
	if len(t.CardID) != n || len(t.EventTime) != n {
		errs = append(errs, fmt.Errorf("train: %d transaction ids, %d card ids, %d event times", n, len(t.CardID), len(t.EventTime)))
	}
	if t.Labels != nil && len(t.Labels) != n {
		errs = append(errs, fmt.Errorf("train: %d rows but %d labels", n, len(t.Labels)))
	}
	if len(t.Names) != len(t.Columns) {
		errs = append(errs, fmt.Errorf("train: %d feature names but %d columns", len(t.Names), len(t.Columns)))
	}
	for k, name := range t.Names {
		if name == "" {
			errs = append(errs, fmt.Errorf("train: feature %d has no name", k))
		} else if slices.Index(t.Names, name) < k {
			errs = append(errs, fmt.Errorf("train: feature %q is repeated", name))
		}
		if k < len(t.Columns) && len(t.Columns[k]) != n {
			errs = append(errs, fmt.Errorf("train: feature %q has %d values for %d rows", name, len(t.Columns[k]), n))
		}
	}
	return errors.Join(errs...)
}

// take returns the rows idx of t, in that order, as a new table.
func (t *Table) take(idx []int) *Table {
	out := &Table{
		TransactionID: make([]string, len(idx)),
		CardID:        make([]string, len(idx)),
		EventTime:     make([]int64, len(idx)),
		Names:         slices.Clone(t.Names),
		Columns:       make([][]float64, len(t.Columns)),
	}
	for k := range t.Columns {
		out.Columns[k] = make([]float64, len(idx))
	}
	if t.Labels != nil {
		out.Labels = make([]bool, len(idx))
	}
	for j, i := range idx {
		out.TransactionID[j] = t.TransactionID[i]
		out.CardID[j] = t.CardID[i]
		out.EventTime[j] = t.EventTime[i]
		if out.Labels != nil {
			out.Labels[j] = t.Labels[i]
		}
	}
	for k, col := range t.Columns {
		dst := out.Columns[k]
		for j, i := range idx {
			dst[j] = col[i]
		}
	}
	return out
}

// Row is one row of a Source.
type Row struct {
	TransactionID string
	CardID        string
	EventTime     time.Time
	Features      []float64 // in the order of the Source's feature names
	Label         bool
}

// Source yields the rows of a training table, for ReadFrom. The CSV reader
// is one; a Parquet reader can be another.
type Source interface {
	// Header returns the feature names, in the order of Row.Features, and
	// whether rows carry a label. ReadFrom calls it once, first.
	Header() (features []string, labelled bool)
	// Next fills row, whose Features has one element per feature name, and
	// returns io.EOF after the last row. Errors must not quote card
	// numbers.
	Next(row *Row) error
}

// ReadFrom reads every row of src into a Table.
func ReadFrom(src Source) (*Table, error) {
	names, labelled := src.Header()
	t := &Table{Names: slices.Clone(names), Columns: make([][]float64, len(names))}
	if labelled {
		t.Labels = []bool{}
	}
	row := Row{Features: make([]float64, len(names))}
	for {
		err := src.Next(&row)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		t.TransactionID = append(t.TransactionID, row.TransactionID)
		t.CardID = append(t.CardID, row.CardID)
		t.EventTime = append(t.EventTime, row.EventTime.UnixNano())
		for k, v := range row.Features {
			t.Columns[k] = append(t.Columns[k], v)
		}
		if labelled {
			t.Labels = append(t.Labels, row.Label)
		}
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}
