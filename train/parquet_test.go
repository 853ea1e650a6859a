package train_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/fraudscore/scorer/train"
)

// TestReadParquetConvertsNumbers: a table written by another tool (DuckDB's
// counts are BIGINT) reads its integer, float and boolean columns as the
// numbers they hold; a column of text is refused by name.
func TestReadParquetConvertsNumbers(t *testing.T) {
	type row struct {
		TransactionID string  `parquet:"transaction_id"`
		CardID        string  `parquet:"card_id"`
		EventTime     int64   `parquet:"event_time,timestamp(millisecond)"`
		Count         int64   `parquet:"card_tx_count_1h"`
		Small         int32   `parquet:"card_failed_count_10m"`
		Avg           float32 `parquet:"card_amount_avg_7d"`
		Night         bool    `parquet:"tx_at_night"`
		Label         int64   `parquet:"label"`
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "t.parquet")
	rows := []row{
		{"a", "c1", 1_700_000_000_000, 3, 2, 12.5, true, 0},
		{"b", "c2", 1_700_000_001_000, 7, 0, 0.25, false, 1},
	}
	if err := parquet.WriteFile(path, rows); err != nil {
		t.Fatal(err)
	}
	tab, err := train.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float64{
		"card_tx_count_1h":      {3, 7},
		"card_failed_count_10m": {2, 0},
		"card_amount_avg_7d":    {12.5, 0.25},
		"tx_at_night":           {1, 0},
	}
	for name, w := range want {
		got, ok := tab.Column(name)
		if !ok || len(got) != 2 || got[0] != w[0] || got[1] != w[1] {
			t.Errorf("%s = %v, want %v", name, got, w)
		}
	}
	if tab.EventTime[1] != 1_700_000_001_000*1_000_000 || tab.Labels[0] || !tab.Labels[1] {
		t.Errorf("event times %v (milliseconds read as such?), labels %v", tab.EventTime, tab.Labels)
	}

	type bad struct {
		TransactionID string `parquet:"transaction_id"`
		CardID        string `parquet:"card_id"`
		EventTime     int64  `parquet:"event_time,timestamp(microsecond)"`
		Merchant      string `parquet:"merchant_id"`
	}
	badPath := filepath.Join(dir, "bad.parquet")
	if err := parquet.WriteFile(badPath, []bad{{"a", "c", 1, "m"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := train.ReadFile(badPath); err == nil || !strings.Contains(err.Error(), "merchant_id") {
		t.Errorf("a text column: err = %v, want one naming merchant_id", err)
	}
}
