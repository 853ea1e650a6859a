package backfill

import (
	"fmt"
	"io"
	"reflect"
	"runtime"
	"sync"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// Parquet columns: transaction_id and card_id (strings, card_id
// dictionary-encoded), event_time (TIMESTAMP in microseconds, UTC; finer
// digits are dropped), each feature by name (DOUBLE, in the set's order),
// and label (INT32, 0 or 1) when the table has labels. Pages are
// compressed with zstd.
const (
	rowGroupRows = 1 << 17
	valueBatch   = 1 << 12
)

// parquetSchema builds the schema for t's columns at run time, in order,
// from a struct type made for the purpose (parquet-go orders a struct's
// columns as its fields, and a map's by name).
func parquetSchema(t *Table) *parquet.Schema {
	fields := []reflect.StructField{
		{Name: "TransactionID", Type: reflect.TypeFor[string](), Tag: `parquet:"transaction_id"`},
		{Name: "CardID", Type: reflect.TypeFor[string](), Tag: `parquet:"card_id,dict"`},
		{Name: "EventTime", Type: reflect.TypeFor[int64](), Tag: `parquet:"event_time,timestamp(microsecond)"`},
	}
	for i, name := range t.Set.Names() {
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("F%d", i), Type: reflect.TypeFor[float64](),
			Tag: reflect.StructTag(fmt.Sprintf(`parquet:%q`, name)),
		})
	}
	if t.Labels != nil {
		fields = append(fields, reflect.StructField{Name: "Label", Type: reflect.TypeFor[int32](), Tag: `parquet:"label"`})
	}
	return parquet.SchemaOf(reflect.New(reflect.StructOf(fields)).Elem().Interface())
}

// rows returns the indexes of the rows to write: those with a label when
// t has labels, else nil for all.
func (t *Table) rows() []int32 {
	if t.Labels == nil {
		return nil
	}
	out := make([]int32, 0, t.Len())
	for i, l := range t.Labels {
		if l >= 0 {
			out = append(out, int32(i))
		}
	}
	return out
}

// WriteParquet writes t to w as Parquet (see the columns above), leaving
// out rows without a label, and returns how many rows it wrote. Row
// groups of 131,072 rows are encoded in parallel.
func WriteParquet(w io.Writer, t *Table) (int, error) {
	return t.writeParquet(w, rowGroupRows)
}

func (t *Table) writeParquet(w io.Writer, groupRows int) (int, error) {
	schema := parquetSchema(t)
	pw := parquet.NewGenericWriter[any](w, schema,
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedFastest}),
		parquet.CreatedBy("scorer backfill", "", ""))
	sel := t.rows()
	n := t.Len()
	if sel != nil {
		n = len(sel)
	}

	// Row groups are filled by workers and committed in order, each worker
	// with a row group writer and a buffer of its own, used again and
	// again.
	type slot struct {
		rg   *parquet.ConcurrentRowGroupWriter
		vals []parquet.Value
	}
	type group struct {
		*slot
		lo   int
		err  error
		done chan struct{}
	}
	workers := runtime.GOMAXPROCS(0)
	free := make(chan *slot, workers)
	for range workers {
		free <- &slot{rg: pw.BeginRowGroup(), vals: make([]parquet.Value, min(groupRows, n))}
	}
	pending := make(chan *group, workers)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(pending)
		var fill sync.WaitGroup
		for lo := 0; lo < n; lo += groupRows {
			g := &group{slot: <-free, lo: lo, done: make(chan struct{})}
			fill.Go(func() {
				g.err = t.fillRowGroup(g.rg, g.vals, sel, g.lo, min(g.lo+groupRows, n))
				close(g.done)
			})
			pending <- g
		}
		fill.Wait()
	})
	var err error
	for g := range pending {
		<-g.done
		if err == nil {
			err = g.err
		}
		if err == nil {
			_, err = g.rg.Commit()
		}
		free <- g.slot
	}
	wg.Wait()
	if err != nil {
		return 0, err
	}
	if err := pw.Close(); err != nil {
		return 0, err
	}
	return n, nil
}

// fillRowGroup writes rows [lo, hi) of the selection (all rows when sel is
// nil) into rg, a column at a time.
func (t *Table) fillRowGroup(rg *parquet.ConcurrentRowGroupWriter, vals []parquet.Value, sel []int32, lo, hi int) error {
	l, nf := t.Log, t.Set.Len()
	vals = vals[:hi-lo]
	for c, cw := range rg.ColumnWriters() {
		for k := range vals {
			i := lo + k
			if sel != nil {
				i = int(sel[i])
			}
			var v parquet.Value
			switch {
			case c == 0:
				v = parquet.ByteArrayValue(stringBytes(l.id(l.at(i))))
			case c == 1:
				v = parquet.ByteArrayValue(stringBytes(l.dict[fCard][l.at(i).f[fCard]]))
			case c == 2:
				v = parquet.Int64Value(floorDiv(l.at(i).t, 1000))
			case c < 3+nf:
				v = parquet.DoubleValue(t.Values[i*nf+c-3])
			default:
				v = parquet.Int32Value(int32(t.Labels[i]))
			}
			v.SetColumnIndex(c) // levels stay 0: every column is required
			vals[k] = v
		}
		for k := 0; k < len(vals); k += valueBatch {
			// Pages are cut between writes: a batch at a time keeps them near
			// the page buffer's size.
			if _, err := cw.WriteRowValues(vals[k:min(k+valueBatch, len(vals))]); err != nil {
				return err
			}
		}
	}
	return rg.Flush()
}

// stringBytes is s's bytes without a copy. parquet-go copies the bytes of
// the values written into its own buffers and never modifies them.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// floorDiv is a/b rounded down.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}
