package backfill_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/fraudscore/scorer/backfill"
	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/fraud"
)

func TestEveryInputFormatGivesTheSameTable(t *testing.T) {
	set := parseSet(t, propertyFeatures)
	log := randomLog(rand.New(rand.NewPCG(3, 4)), 400)
	dir := t.TempDir()
	inputs := map[string]func(path string){
		"log.jsonl":            func(p string) { writeJSONL(t, p, log) },
		"log.jsonl.gz":         func(p string) { writeJSONL(t, p, log) },
		"log.csv":              func(p string) { writeCSVLog(t, p, log) },
		"log.parquet":          func(p string) { writeParquetLog(t, p, log, false) },
		"string-times.parquet": func(p string) { writeParquetLog(t, p, log, true) },
	}
	want, wantStats := []byte(nil), backfill.Stats{}
	for _, name := range []string{"log.jsonl", "log.jsonl.gz", "log.csv", "log.parquet", "string-times.parquet"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			inputs[name](path)
			table, st := backfillFile(t, set, path)
			got := csvBytes(t, table)
			if want == nil {
				want, wantStats = got, st
				if st.Records != int64(len(log)) || st.Invalid != 0 {
					t.Fatalf("stats %+v, want %d records and none invalid", st, len(log))
				}
				return
			}
			if !bytes.Equal(got, want) {
				t.Errorf("the table differs from the JSONL log's:\n%s\nwant\n%s", firstLines(got, 5), firstLines(want, 5))
			}
			if st.Records != wantStats.Records || st.Duplicates != wantStats.Duplicates || st.Invalid != 0 {
				t.Errorf("stats %+v, want %+v", st, wantStats)
			}
		})
	}
}

func csvBytes(t testing.TB, table *backfill.Table) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := backfill.WriteCSV(&b, table); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func firstLines(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// readParquet reads back a table written by WriteParquet: the column
// names, then each row's values.
func readParquet(t *testing.T, b []byte) (*parquet.File, []parquet.Row) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var rows []parquet.Row
	for _, rg := range f.RowGroups() {
		r := rg.Rows()
		buf := make([]parquet.Row, 100)
		for {
			n, err := r.ReadRows(buf)
			for _, row := range buf[:n] {
				rows = append(rows, row.Clone())
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		r.Close()
	}
	return f, rows
}

func TestParquetOutputReadsBackAsTheTable(t *testing.T) {
	set := parseSet(t, propertyFeatures)
	path := filepath.Join(t.TempDir(), "log.jsonl")
	log := randomLog(rand.New(rand.NewPCG(5, 6)), 300)
	log[0].EventTime = t0.Add(123456789 * time.Nanosecond).Format(time.RFC3339Nano) // finer than a microsecond
	writeJSONL(t, path, log)
	table, _ := backfillFile(t, set, path)
	var b bytes.Buffer
	n, err := backfill.WriteParquet(&b, table)
	if err != nil || n != table.Len() {
		t.Fatalf("WriteParquet = %d, %v; want %d rows", n, err, table.Len())
	}
	f, rows := readParquet(t, b.Bytes())

	t.Run("columns are named and typed in order", func(t *testing.T) {
		want := append([]string{"transaction_id", "card_id", "event_time"}, set.Names()...)
		var got []string
		for _, fl := range f.Schema().Fields() {
			got = append(got, fl.Name())
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("columns %v, want %v", got, want)
		}
		ts, ok := f.Schema().Fields()[2].Type().LogicalType().Value.(*format.TimestampType)
		if !ok || !ts.IsAdjustedToUTC || ts.Unit.Value == nil || ts.Unit.String() != "MICROS" {
			t.Errorf("event_time is %v, want a UTC timestamp in microseconds", f.Schema().Fields()[2].Type())
		}
		if k := f.Schema().Fields()[3].Type().Kind(); k != parquet.Double {
			t.Errorf("features are %v, want DOUBLE", k)
		}
	})
	t.Run("rows hold the table's values", func(t *testing.T) {
		if len(rows) != table.Len() {
			t.Fatalf("%d rows, want %d", len(rows), table.Len())
		}
		for i, row := range rows {
			tx := table.Tx(i)
			if got := row[0].String(); got != tx.ID {
				t.Fatalf("row %d transaction_id %q, want %q", i, got, tx.ID)
			}
			if got := row[1].String(); got != tx.CardID {
				t.Errorf("row %d card_id %q, want %q", i, got, tx.CardID)
			}
			if got, want := row[2].Int64(), tx.EventTime.Truncate(time.Microsecond).UnixMicro(); got != want {
				t.Errorf("row %d event_time %d µs, want %d", i, got, want)
			}
			for k, v := range table.Row(i) {
				if got := row[3+k].Double(); math.Float64bits(got) != math.Float64bits(v) {
					t.Errorf("row %d %s = %v, want %v", i, set.Names()[k], got, v)
				}
			}
		}
	})
}

func TestCSVOutputReadsBackAsTheTable(t *testing.T) {
	set := features.Default()
	path := filepath.Join(t.TempDir(), "log.jsonl")
	log := randomLog(rand.New(rand.NewPCG(7, 8)), 200)
	log[0].EventTime = t0.Add(time.Nanosecond).Format(time.RFC3339Nano)
	log[1].ID = `odd,"id"`
	writeJSONL(t, path, log)
	table, _ := backfillFile(t, set, path)
	recs, err := csv.NewReader(bytes.NewReader(csvBytes(t, table))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := append([]string{"transaction_id", "card_id", "event_time"}, set.Names()...)
	if strings.Join(recs[0], ",") != strings.Join(want, ",") {
		t.Errorf("header %v, want %v", recs[0], want)
	}
	if len(recs)-1 != table.Len() {
		t.Fatalf("%d rows, want %d", len(recs)-1, table.Len())
	}
	for i, rec := range recs[1:] {
		tx := table.Tx(i)
		at, err := time.Parse(time.RFC3339Nano, rec[2])
		if rec[0] != tx.ID || rec[1] != tx.CardID || err != nil || !at.Equal(tx.EventTime) || len(rec[2]) != len("2006-01-02T15:04:05.000000000Z") {
			t.Errorf("row %d = %q, want %s %s %s", i, rec[:3], tx.ID, tx.CardID, tx.EventTime.Format(time.RFC3339Nano))
		}
		for k, v := range table.Row(i) {
			if got, err := strconv.ParseFloat(rec[3+k], 64); err != nil || got != v {
				t.Errorf("row %d %s = %q, want %v", i, set.Names()[k], rec[3+k], v)
			}
		}
	}
}

func TestLabels(t *testing.T) {
	set := features.Default()
	dir := t.TempDir()
	pan := "card_4111111111111111"
	at := t0.Format(time.RFC3339)
	log := []record{
		{ID: "5500000000000004", CardID: pan, Amount: 1, Currency: "USD", EventTime: at}, // a card number as id
		{ID: "b", CardID: pan, Amount: 2, Currency: "USD", EventTime: at},
		{ID: "c", CardID: "card_x", Amount: 3, Currency: "USD", EventTime: at},
	}
	path := filepath.Join(dir, "log.jsonl")
	writeJSONL(t, path, log)
	table, _ := backfillFile(t, set, path)
	labels, dups, err := backfill.ReadLabels(strings.NewReader("transaction_id,is_fraud\r\n5500000000000004,1\r\nb,0\r\nb,1\r\n\"zz\",true\r\n"))
	if err != nil || dups != 1 {
		t.Fatalf("ReadLabels: %v, %d repeated; want 1 repeated", err, dups)
	}
	unlabelled, unmatched := table.Join(labels)

	t.Run("labels join by the original id, through tokens", func(t *testing.T) {
		got := map[string]int8{}
		for i := range table.Len() {
			got[table.Tx(i).ID] = table.Labels[i]
		}
		if got[fraud.Tokenize("5500000000000004")] != 1 || got["b"] != 0 || got["c"] != -1 {
			t.Errorf("labels %v, want the card-number id's 1, b's first 0 and none for c", got)
		}
		if unlabelled != 1 || unmatched != 1 {
			t.Errorf("unlabelled %d, unmatched %d; want 1 (c) and 1 (zz)", unlabelled, unmatched)
		}
	})
	t.Run("rows without a label are left out and the label column added", func(t *testing.T) {
		b := csvBytes(t, table)
		recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 3 || recs[0][len(recs[0])-1] != "label" {
			t.Fatalf("CSV:\n%s\nwant a label column and two rows", b)
		}
		var pb bytes.Buffer
		n, err := backfill.WriteParquet(&pb, table)
		if err != nil || n != 2 {
			t.Fatalf("WriteParquet = %d, %v; want 2 rows", n, err)
		}
		f, rows := readParquet(t, pb.Bytes())
		fields := f.Schema().Fields()
		if last := fields[len(fields)-1]; last.Name() != "label" || last.Type().Kind() != parquet.Int32 {
			t.Errorf("last column %s %v, want label INT32", last.Name(), last.Type())
		}
		var got []int64
		for _, r := range rows {
			got = append(got, r[len(r)-1].Int64())
		}
		if len(got) != 2 || got[0]+got[1] != 1 {
			t.Errorf("labels %v, want a 0 and a 1", got)
		}
	})
	t.Run("no card number reaches the output", func(t *testing.T) {
		var pb bytes.Buffer
		if _, err := backfill.WriteParquet(&pb, table); err != nil {
			t.Fatal(err)
		}
		for _, out := range [][]byte{csvBytes(t, table), pb.Bytes()} {
			for _, pan := range []string{"4111111111111111", "5500000000000004"} {
				if bytes.Contains(out, []byte(pan)) {
					t.Errorf("the output holds the card number %s", pan)
				}
			}
		}
	})
}

func TestSparkovSampleBackfillsWithoutInvalidRows(t *testing.T) {
	path := sparkov(t, "transactions.jsonl")
	table, st := backfillFile(t, features.Default(), path)
	if st.Records != 7184 || st.Invalid != 0 || st.Duplicates != 0 || table.Len() != 7184 {
		t.Fatalf("stats %+v, %d rows; want 7,184 valid distinct records", st, table.Len())
	}
	if st.Tokens == 0 {
		t.Error("no card number was replaced; the sample's card ids are card numbers")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pb bytes.Buffer
	if _, err := backfill.WriteParquet(&pb, table); err != nil {
		t.Fatal(err)
	}
	out := append(csvBytes(t, table), pb.Bytes()...)
	for _, line := range bytes.Split(raw, []byte("\n"))[:500] {
		i := bytes.Index(line, []byte(`"card_id":"card_`))
		if i < 0 {
			continue
		}
		num := line[i+len(`"card_id":"card_`):]
		num = num[:bytes.IndexByte(num, '"')]
		if fraud.LooksLikePAN(string(num)) && bytes.Contains(out, num) {
			t.Fatalf("the output holds a card number of the sample")
		}
	}
}
