package train

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// ReadParquet reads a training table in the Parquet that `scorer backfill`
// writes: transaction_id and card_id (strings), event_time (INT64, a
// TIMESTAMP in any unit, or nanoseconds when it has none), one numeric
// column per feature (DOUBLE as backfill writes it; FLOAT, INT32, INT64
// and BOOLEAN are converted) and, when labelled, label (an integer, 0 or 1). As
// with ReadCSV every other column is a feature, in schema order. It reads
// column by column, so a wide table costs its values, not its rows.
func ReadParquet(f *os.File) (*Table, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("train: parquet: %w", err)
	}
	schema := pf.Schema()
	n := int(pf.NumRows())
	t := &Table{}
	var errs []error
	col := map[string]int{}
	timeUnit := int64(1)
	for i, path := range schema.Columns() {
		if len(path) != 1 {
			errs = append(errs, fmt.Errorf("train: parquet column %v is nested", path))
			continue
		}
		name := path[0]
		col[name] = i
		leaf, _ := schema.Lookup(name)
		switch name {
		case "transaction_id", "card_id", "label":
		case "event_time":
			if lt := leaf.Node.Type().LogicalType(); lt != nil {
				if ts, ok := lt.Value.(*format.TimestampType); ok && ts.Unit.Value != nil {
					timeUnit = int64(ts.Unit.Value.Duration())
				}
			}
		default:
			if number(leaf.Node.Type().Kind()) == nil {
				errs = append(errs, fmt.Errorf("train: parquet column %s is %s, not a number", name, leaf.Node.Type()))
				continue
			}
			t.Names = append(t.Names, name)
		}
		switch name {
		case "label":
			if number(leaf.Node.Type().Kind()) == nil {
				errs = append(errs, fmt.Errorf("train: parquet column label is %s, not 0 or 1", leaf.Node.Type()))
			}
		case "event_time":
			if k := leaf.Node.Type().Kind(); k != parquet.Int64 {
				errs = append(errs, fmt.Errorf("train: parquet column event_time is %s, not a timestamp", leaf.Node.Type()))
			}
		}
	}
	for _, name := range []string{"transaction_id", "card_id", "event_time"} {
		if _, ok := col[name]; !ok {
			errs = append(errs, fmt.Errorf("train: parquet has no %s column", name))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	t.TransactionID = make([]string, 0, n)
	t.CardID = make([]string, 0, n)
	t.EventTime = make([]int64, 0, n)
	t.Columns = make([][]float64, len(t.Names))
	for k := range t.Columns {
		t.Columns[k] = make([]float64, 0, n)
	}
	_, labelled := col["label"]
	if labelled {
		t.Labels = make([]bool, 0, n)
	}
	for _, rg := range pf.RowGroups() {
		chunks := rg.ColumnChunks()
		read := func(name string, each func(parquet.Value) error) error {
			return readColumn(chunks[col[name]], func(v parquet.Value) error {
				if v.IsNull() {
					return fmt.Errorf("train: parquet column %s has a null", name)
				}
				return each(v)
			})
		}
		err := errors.Join(
			read("transaction_id", func(v parquet.Value) error {
				t.TransactionID = append(t.TransactionID, string(v.ByteArray()))
				return nil
			}),
			read("card_id", func(v parquet.Value) error {
				t.CardID = append(t.CardID, string(v.ByteArray()))
				return nil
			}),
			read("event_time", func(v parquet.Value) error {
				t.EventTime = append(t.EventTime, v.Int64()*timeUnit)
				return nil
			}),
		)
		if labelled && err == nil {
			asNumber := number(chunks[col["label"]].Type().Kind())
			err = read("label", func(v parquet.Value) error {
				switch asNumber(v) {
				case 0:
					t.Labels = append(t.Labels, false)
				case 1:
					t.Labels = append(t.Labels, true)
				default:
					return errors.New("train: parquet column label: not 0 or 1")
				}
				return nil
			})
		}
		for k, name := range t.Names {
			if err != nil {
				break
			}
			asNumber := number(chunks[col[name]].Type().Kind())
			err = readColumn(chunks[col[name]], func(v parquet.Value) error {
				if v.IsNull() {
					t.Columns[k] = append(t.Columns[k], math.NaN())
				} else {
					t.Columns[k] = append(t.Columns[k], asNumber(v))
				}
				return nil
			})
		}
		if err != nil {
			return nil, err
		}
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

// number returns how to read a column of kind k as a float64, or nil for
// a kind that holds no number.
func number(k parquet.Kind) func(parquet.Value) float64 {
	switch k {
	case parquet.Double:
		return func(v parquet.Value) float64 { return v.Double() }
	case parquet.Float:
		return func(v parquet.Value) float64 { return float64(v.Float()) }
	case parquet.Int32:
		return func(v parquet.Value) float64 { return float64(v.Int32()) }
	case parquet.Int64:
		return func(v parquet.Value) float64 { return float64(v.Int64()) }
	case parquet.Boolean:
		return func(v parquet.Value) float64 {
			if v.Boolean() {
				return 1
			}
			return 0
		}
	}
	return nil
}

// readColumn calls each for every value of a column chunk, in order.
func readColumn(c parquet.ColumnChunk, each func(parquet.Value) error) error {
	pages := c.Pages()
	defer pages.Close()
	buf := make([]parquet.Value, 4096)
	for {
		p, err := pages.ReadPage()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("train: parquet: %w", err)
		}
		vr := p.Values()
		for {
			m, err := vr.ReadValues(buf)
			for _, v := range buf[:m] {
				if err := each(v); err != nil {
					parquet.Release(p)
					return err
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				parquet.Release(p)
				return fmt.Errorf("train: parquet: %w", err)
			}
		}
		parquet.Release(p)
	}
}
