package train

import (
	"errors"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

const testPAN = "4111111111111111"

func readFixture(t *testing.T) *Table {
	t.Helper()
	f, err := os.Open("testdata/backfill.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := ReadCSV(f)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestReadCSVBackfillFormat(t *testing.T) {
	tab := readFixture(t)
	t.Run("the features are the columns between the ids and the label, in order", func(t *testing.T) {
		want := []string{"card_tx_count_1m", "card_tx_count_5m", "card_tx_count_1h", "card_tx_count_24h",
			"card_amount_sum_1h", "card_amount_sum_24h", "card_failed_count_10m", "card_distinct_merchants_1h", "card_seconds_since_prev"}
		if !slices.Equal(tab.Names, want) {
			t.Errorf("names %v", tab.Names)
		}
	})
	t.Run("every row, ids and quoted fields as written", func(t *testing.T) {
		if tab.Len() != 5 || tab.TransactionID[3] != "tx-0004" || tab.CardID[4] != "card,quoted" {
			t.Errorf("%d rows, ids %v, cards %v", tab.Len(), tab.TransactionID, tab.CardID)
		}
	})
	t.Run("event times to the nanosecond", func(t *testing.T) {
		want := time.Date(2025, 3, 1, 10, 1, 2, 123456789, time.UTC)
		if got := tab.Time(3); !got.Equal(want) {
			t.Errorf("time %v, want %v", got, want)
		}
	})
	t.Run("feature values, -1 for none and exponents included", func(t *testing.T) {
		since, _ := tab.Column("card_seconds_since_prev")
		sum, _ := tab.Column("card_amount_sum_1h")
		if !slices.Equal(since, []float64{-1, 42.75, 8123.5, 21.123456789, -1}) || sum[4] != 1e6 {
			t.Errorf("since %v, sum %v", since, sum)
		}
	})
	t.Run("labels", func(t *testing.T) {
		if !slices.Equal(tab.Labels, []bool{false, false, false, true, true}) {
			t.Errorf("labels %v", tab.Labels)
		}
	})
}

func TestReadCSVVariants(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		check func(t *testing.T, tab *Table)
	}{
		{"unlabelled table has nil labels", "transaction_id,card_id,event_time,f\na,c,2025-01-01T00:00:00Z,1\n",
			func(t *testing.T, tab *Table) {
				if tab.Labels != nil || tab.Len() != 1 {
					t.Errorf("labels %v, %d rows", tab.Labels, tab.Len())
				}
			}},
		{"columns found by name in any order", "label,f,event_time,g,card_id,transaction_id\n1,2,2025-01-01T00:00:00+02:00,3,c,a\n",
			func(t *testing.T, tab *Table) {
				if !slices.Equal(tab.Names, []string{"f", "g"}) || !tab.Labels[0] || tab.Columns[1][0] != 3 || tab.Time(0).Hour() != 22 {
					t.Errorf("table %+v", tab)
				}
			}},
		{"a byte-order mark is skipped", "\ufefftransaction_id,card_id,event_time,f,label\na,c,2025-01-01T00:00:00Z,1,0\n",
			func(t *testing.T, tab *Table) {
				if tab.Len() != 1 {
					t.Errorf("%d rows", tab.Len())
				}
			}},
		{"an empty feature cell is NaN", "transaction_id,card_id,event_time,f,label\na,c,2025-01-01T00:00:00Z,,0\n",
			func(t *testing.T, tab *Table) {
				if !math.IsNaN(tab.Columns[0][0]) {
					t.Errorf("value %v", tab.Columns[0][0])
				}
			}},
		{"a header alone is an empty table", "transaction_id,card_id,event_time,f,label\n",
			func(t *testing.T, tab *Table) {
				if tab.Len() != 0 || len(tab.Names) != 1 || tab.Labels == nil {
					t.Errorf("table %+v", tab)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := ReadCSV(strings.NewReader(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, tab)
		})
	}
}

func TestReadCSVErrors(t *testing.T) {
	const head = "transaction_id,card_id,event_time,f,label\n"
	for _, tc := range []struct {
		name, input, want string
	}{
		{"empty input", "", "no header row"},
		{"no event_time column", "transaction_id,card_id,f\n", "no event_time column"},
		{"a repeated column", "transaction_id,card_id,event_time,f,f\n", `column "f" is repeated`},
		{"a time that is not RFC 3339", head + "a,c,01/02/2025 " + testPAN + ",1,0\n", "line 2, column event_time: not an RFC 3339 time"},
		{"a feature that is not a number", head + "a,c,2025-01-01T00:00:00Z,x" + testPAN + ",0\n", "line 2, column f: not a number"},
		{"a label other than 0 or 1", head + "a,c,2025-01-01T00:00:00Z,1,yes\n", "line 2, column label: not 0 or 1"},
		{"a row with a missing field", head + "a,c,2025-01-01T00:00:00Z,1\n", "line 2"},
		{"an empty transaction id", head + ",c,2025-01-01T00:00:00Z,1,0\n", "column transaction_id: empty"},
		{"a bare quote", head + "a,\"" + testPAN + "\"x,2025-01-01T00:00:00Z,1,0\n", "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testPAN) {
				t.Errorf("the error quotes the card number: %v", err)
			}
		})
	}
}

// sliceSource is a Source over rows in memory, as a Parquet reader would
// be one over a file.
type sliceSource struct {
	names []string
	rows  []Row
	err   error
}

func (s *sliceSource) Header() ([]string, bool) { return s.names, true }

func (s *sliceSource) Next(r *Row) error {
	if len(s.rows) == 0 {
		if s.err != nil {
			return s.err
		}
		return io.EOF
	}
	f := r.Features
	*r = s.rows[0]
	r.Features = append(f[:0], s.rows[0].Features...)
	s.rows = s.rows[1:]
	return nil
}

func TestReadFrom(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t.Run("a Source's rows become columns", func(t *testing.T) {
		tab, err := ReadFrom(&sliceSource{names: []string{"a", "b"}, rows: []Row{
			{TransactionID: "t1", CardID: "c1", EventTime: at, Features: []float64{1, 2}, Label: true},
			{TransactionID: "t2", CardID: "c2", EventTime: at.Add(time.Second), Features: []float64{3, 4}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(tab.Columns[1], []float64{2, 4}) || !slices.Equal(tab.Labels, []bool{true, false}) || tab.EventTime[1]-tab.EventTime[0] != 1e9 {
			t.Errorf("table %+v", tab)
		}
	})
	t.Run("a Source's error is returned", func(t *testing.T) {
		boom := errors.New("boom")
		if _, err := ReadFrom(&sliceSource{names: []string{"a"}, err: boom}); !errors.Is(err, boom) {
			t.Errorf("error %v", err)
		}
	})
}

func TestValidate(t *testing.T) {
	ok := func() *Table {
		return &Table{TransactionID: []string{"a", "b"}, CardID: []string{"c", "c"}, EventTime: []int64{1, 2},
			Names: []string{"f", "g"}, Columns: [][]float64{{1, 2}, {3, 4}}, Labels: []bool{true, false}}
	}
	for _, tc := range []struct {
		name   string
		change func(*Table)
		want   string
	}{
		{"a valid table", func(*Table) {}, ""},
		{"an unlabelled table", func(t *Table) { t.Labels = nil }, ""},
		{"a short id column", func(t *Table) { t.CardID = t.CardID[:1] }, "card ids"},
		{"a short label column", func(t *Table) { t.Labels = t.Labels[:1] }, "labels"},
		{"a short feature column", func(t *Table) { t.Columns[1] = t.Columns[1][:1] }, `feature "g" has 1 values`},
		{"a repeated name", func(t *Table) { t.Names[1] = "f" }, `feature "f" is repeated`},
		{"names and columns differ", func(t *Table) { t.Names = t.Names[:1] }, "1 feature names but 2 columns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := ok()
			tc.change(tab)
			err := tab.Validate()
			if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
