package backfill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/fraud"
)

func TestParquetRowGroupsKeepTheRowOrder(t *testing.T) {
	l := NewLog()
	for i := range 100 {
		tx := fraud.Transaction{ID: fmt.Sprintf("t%03d", i), CardID: fmt.Sprintf("c%d", i%3), Amount: int64(i),
			Currency: "USD", EventTime: time.Unix(int64(1_700_000_000+i), 0).UTC()}
		l.Append(&tx)
	}
	table, err := Compute(context.Background(), features.Default(), l)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if n, err := table.writeParquet(&b, 7); err != nil || n != 100 {
		t.Fatalf("writeParquet = %d, %v; want 100 rows", n, err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(f.RowGroups()); got != 15 {
		t.Errorf("%d row groups, want 15 of at most 7 rows", got)
	}
	i := 0
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		buf := make([]parquet.Row, 8)
		for {
			n, err := rows.ReadRows(buf)
			for _, r := range buf[:n] {
				if got, want := r[0].String(), fmt.Sprintf("t%03d", i); got != want {
					t.Fatalf("row %d is %s, want %s", i, got, want)
				}
				if got, want := r[3+table.Set.Index("card_amount_sum_24h")].Double(), table.Row(i)[table.Set.Index("card_amount_sum_24h")]; got != want {
					t.Errorf("row %d card_amount_sum_24h %v, want %v", i, got, want)
				}
				i++
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		rows.Close()
	}
	if i != 100 {
		t.Errorf("read %d rows, want 100", i)
	}
}
