package backfill_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/fraudscore/scorer/backfill"
	"github.com/fraudscore/scorer/features"
)

// record is one line of a test log, in the service's schema. Optional
// fields are left out when empty.
type record struct {
	ID               string `json:"transaction_id"`
	CardID           string `json:"card_id"`
	Amount           int64  `json:"amount"`
	Currency         string `json:"currency"`
	EventTime        string `json:"event_time"`
	MerchantID       string `json:"merchant_id,omitempty"`
	MerchantCategory string `json:"merchant_category,omitempty"`
	DeviceID         string `json:"device_id,omitempty"`
	Country          string `json:"country,omitempty"`
	Channel          string `json:"channel,omitempty"`
	Status           string `json:"status,omitempty"`
}

func (r record) time(t testing.TB) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, r.EventTime)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

var t0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

// randomLog makes n records: a few cards and devices (some records
// without a device, one device rarely used), times on a 30 s grid over two
// hours so that ties and events exactly a window apart are common, in
// random order, and about one in ten repeating an earlier transaction_id
// with other values.
func randomLog(rng *rand.Rand, n int) []record {
	cards := []string{"card_a", "card_b", "card_c", "card_d"}
	devices := []string{"", "", "dev_1", "dev_2", "dev_3"}
	merchants := []string{"m1", "m2", "m3", "m4", "m5"}
	statuses := []string{"", "approved", "declined", "failed"}
	channels := []string{"pos", "ecom"}
	var log []record
	for i := range n {
		r := record{
			ID:         fmt.Sprintf("tx-%04d", i),
			CardID:     cards[rng.IntN(len(cards))],
			Amount:     int64(rng.IntN(50_000)),
			Currency:   "USD",
			EventTime:  t0.Add(time.Duration(rng.IntN(240)) * 30 * time.Second).Format(time.RFC3339Nano),
			MerchantID: merchants[rng.IntN(len(merchants))],
			DeviceID:   devices[rng.IntN(len(devices))],
			Channel:    channels[rng.IntN(len(channels))],
			Status:     statuses[rng.IntN(len(statuses))],
		}
		if rng.IntN(40) == 0 {
			r.DeviceID = "dev_rare"
		}
		if i > 0 && rng.IntN(10) == 0 {
			r.ID = log[rng.IntN(len(log))].ID
		}
		log = append(log, r)
	}
	rng.Shuffle(len(log), func(i, j int) { log[i], log[j] = log[j], log[i] })
	return log
}

func writeJSONL(t testing.TB, path string, log []record) {
	t.Helper()
	var b bytes.Buffer
	for _, r := range log {
		line, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	data := b.Bytes()
	if filepath.Ext(path) == ".gz" {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(data)
		w.Close()
		data = z.Bytes()
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeCSVLog(t testing.TB, path string, log []record) {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"transaction_id", "card_id", "amount", "currency", "event_time", "merchant_id",
		"merchant_category", "device_id", "country", "channel", "status", "ignored"})
	for _, r := range log {
		w.Write([]string{r.ID, r.CardID, strconv.FormatInt(r.Amount, 10), r.Currency, r.EventTime, r.MerchantID,
			r.MerchantCategory, r.DeviceID, r.Country, r.Channel, r.Status, "x"})
	}
	w.Flush()
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// parquetRecord is a log row in Parquet with event_time a timestamp.
type parquetRecord struct {
	ID         string    `parquet:"transaction_id"`
	CardID     string    `parquet:"card_id"`
	Amount     int64     `parquet:"amount"`
	Currency   string    `parquet:"currency"`
	EventTime  time.Time `parquet:"event_time,timestamp(nanosecond)"`
	MerchantID *string   `parquet:"merchant_id,optional"`
	DeviceID   *string   `parquet:"device_id,optional"`
	Channel    *string   `parquet:"channel,optional"`
	Status     *string   `parquet:"status,optional"`
}

// parquetStringRecord is a log row in Parquet with event_time a string.
type parquetStringRecord struct {
	ID         string  `parquet:"transaction_id"`
	CardID     string  `parquet:"card_id"`
	Amount     int32   `parquet:"amount"`
	Currency   string  `parquet:"currency"`
	EventTime  string  `parquet:"event_time"`
	MerchantID *string `parquet:"merchant_id,optional"`
	DeviceID   *string `parquet:"device_id,optional"`
	Channel    *string `parquet:"channel,optional"`
	Status     *string `parquet:"status,optional"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func writeParquetLog(t testing.TB, path string, log []record, timeAsString bool) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if timeAsString {
		w := parquet.NewGenericWriter[parquetStringRecord](f)
		for _, r := range log {
			_, err = w.Write([]parquetStringRecord{{r.ID, r.CardID, int32(r.Amount), r.Currency, r.EventTime,
				optional(r.MerchantID), optional(r.DeviceID), optional(r.Channel), optional(r.Status)}})
			if err != nil {
				t.Fatal(err)
			}
		}
		err = w.Close()
	} else {
		w := parquet.NewGenericWriter[parquetRecord](f, parquet.MaxRowsPerRowGroup(64))
		for _, r := range log {
			_, err = w.Write([]parquetRecord{{r.ID, r.CardID, r.Amount, r.Currency, r.time(t),
				optional(r.MerchantID), optional(r.DeviceID), optional(r.Channel), optional(r.Status)}})
			if err != nil {
				t.Fatal(err)
			}
		}
		err = w.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// backfillFile reads path and computes set's features over it.
func backfillFile(t testing.TB, set *features.Set, path string) (*backfill.Table, backfill.Stats) {
	t.Helper()
	src, err := backfill.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	return backfillSource(t, set, src)
}

func backfillSource(t testing.TB, set *features.Set, src backfill.Source) (*backfill.Table, backfill.Stats) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, st, err := backfill.Read(ctx, src, backfill.ReadOptions{MaxInvalid: -1})
	if err != nil {
		t.Fatal(err)
	}
	table, err := backfill.Compute(ctx, set, l)
	if err != nil {
		t.Fatal(err)
	}
	return table, st
}

func parseSet(t testing.TB, yaml string) *features.Set {
	t.Helper()
	set, err := features.Parse([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// sparkovDir is where the shared Sparkov data lives, beside the repository.
const sparkovDir = "../../shared/data/sparkov/"

func sparkov(tb testing.TB, name string) string {
	tb.Helper()
	path := sparkovDir + name
	if _, err := os.Stat(path); err != nil {
		tb.Skipf("the Sparkov data is not here (%v): skipped", err)
	}
	return path
}
