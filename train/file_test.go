package train_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fraudscore/scorer/backfill"
	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/train"
)

// TestReadFileBackfillOutputs writes one backfill table as CSV and as
// Parquet, labelled, and reads both back: the same rows, features and
// labels whichever format the ML engineer picked.
func TestReadFileBackfillOutputs(t *testing.T) {
	dir := t.TempDir()
	var log, labels strings.Builder
	labels.WriteString("transaction_id,is_fraud\n")
	pans := []string{"4111111111111111", "4012888888881881", "5555555555554444", "378282246310005"}
	start := time.Date(2024, 3, 1, 21, 0, 0, 0, time.UTC)
	for i := range 60 {
		fmt.Fprintf(&log, `{"transaction_id":"t%02d","card_id":"card_%s","amount":%d,"currency":"USD","merchant_id":"m%d","merchant_category":"misc_net","country":"US","channel":"ecom","event_time":"%s"}`+"\n",
			i, pans[i%4], 100+37*i, i%3, start.Add(time.Duration(i)*7*time.Minute).Format(time.RFC3339))
		fmt.Fprintf(&labels, "t%02d,%d\n", i, i%9/8)
	}
	logPath := filepath.Join(dir, "log.jsonl")
	if err := os.WriteFile(logPath, []byte(log.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src, err := backfill.OpenFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := backfill.Read(ctx, src, backfill.ReadOptions{})
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	table, err := backfill.Compute(ctx, features.Default(), l)
	if err != nil {
		t.Fatal(err)
	}
	lab, _, err := backfill.ReadLabels(strings.NewReader(labels.String()))
	if err != nil {
		t.Fatal(err)
	}
	table.Join(lab)
	write := func(name string, w func(f *os.File) error) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := w(f); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	csvPath := write("t.csv", func(f *os.File) error { _, err := backfill.WriteCSV(f, table); return err })
	pqPath := write("t.parquet", func(f *os.File) error { _, err := backfill.WriteParquet(f, table); return err })

	fromCSV, err := train.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	fromPQ, err := train.ReadFile(pqPath)
	if err != nil {
		t.Fatal(err)
	}
	if fromCSV.Len() != 60 || fromPQ.Len() != 60 {
		t.Fatalf("rows: CSV %d, Parquet %d, want 60", fromCSV.Len(), fromPQ.Len())
	}
	if want := features.Default().Names(); !slices.Equal(fromCSV.Names, want) || !slices.Equal(fromPQ.Names, want) {
		t.Fatalf("features: CSV %v, Parquet %v, want %v", fromCSV.Names, fromPQ.Names, want)
	}
	if !slices.Equal(fromCSV.TransactionID, fromPQ.TransactionID) || !slices.Equal(fromCSV.CardID, fromPQ.CardID) ||
		!slices.Equal(fromCSV.EventTime, fromPQ.EventTime) || !slices.Equal(fromCSV.Labels, fromPQ.Labels) {
		t.Fatal("CSV and Parquet tables differ in ids, times or labels")
	}
	if got := slices.Index(fromPQ.Labels, true); got != 8 {
		t.Errorf("first fraud at row %d, want 8", got)
	}
	for k, name := range fromPQ.Names {
		for i := range fromPQ.Len() {
			a, b := fromCSV.Columns[k][i], fromPQ.Columns[k][i]
			if a != b && !(math.IsNaN(a) && math.IsNaN(b)) {
				t.Fatalf("%s row %d: CSV %v, Parquet %v", name, i, a, b)
			}
		}
	}
	if amount, _ := fromPQ.Column("tx_amount"); amount[3] != 100+37*3 {
		t.Errorf("tx_amount of row 3 = %v, want %d", amount[3], 100+37*3)
	}
	for _, pan := range pans {
		if slices.ContainsFunc(fromPQ.CardID, func(c string) bool { return strings.Contains(c, pan) }) {
			t.Fatal("the table holds a card number, want tokens")
		}
	}
	later := fromPQ.Between(start.Add(7*time.Hour), time.Time{})
	if later.Len() != 0 || fromPQ.Between(time.Time{}, start.Add(70*time.Minute)).Len() != 10 {
		t.Errorf("Between: %d rows after 7h, %d in the first 70 min", later.Len(), fromPQ.Between(time.Time{}, start.Add(70*time.Minute)).Len())
	}
	if _, err := train.ReadFile(filepath.Join(dir, "t.txt")); err == nil {
		t.Error("ReadFile of a .txt: no error")
	}
}
