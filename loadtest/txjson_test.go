package loadtest

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/fraudscore/scorer/fraud"
)

// oddStrings are values that JSON must escape, or that encoding/json
// rewrites (HTML characters, U+2028, invalid UTF-8).
var oddStrings = []string{
	"", "plain", `quote"d`, `back\slash`, "<script>&amp;</script>", "tab\tnew\nline\rcr",
	"\x00\x01\x1f\x7f", "\u2028\u2029", "é ü 漢字 🙂", "bad\xffutf8\xc3", "\xe2\x80", "a\u0085b", "/slash/",
}

func TestAppendTransactionIsWhatEncodingJSONWrites(t *testing.T) {
	base := fraud.Transaction{ID: "lt-1-t1", CardID: "card_000000000001", Amount: 1234, Currency: "USD",
		EventTime: time.Date(2026, 3, 4, 5, 6, 7, 890123456, time.UTC)}
	var txs []fraud.Transaction
	txs = append(txs, base, fraud.Transaction{}) // the zero value: empty strings, year 1
	for _, s := range oddStrings {
		tx := base
		tx.ID, tx.CardID, tx.Currency = s, s, s
		tx.MerchantID, tx.MerchantCategory, tx.DeviceID, tx.Country, tx.Channel, tx.IP = s, s, s, s, s, s
		tx.Status = fraud.Status(s)
		txs = append(txs, tx)
	}
	for _, a := range []int64{0, -1, 1, math.MaxInt64, math.MinInt64} {
		tx := base
		tx.Amount = a
		txs = append(txs, tx)
	}
	for _, at := range []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),                                       // no fraction
		time.Date(2026, 1, 2, 3, 4, 5, 100, time.UTC),                                     // trailing zeros trimmed
		time.Date(2026, 1, 2, 3, 4, 5, 5e8, time.FixedZone("IST", 5*3600+1800)),           // offset
		time.Date(2026, 1, 2, 3, 4, 5, 1, time.FixedZone("", -(9*3600+30*60))),            // negative offset
		time.Date(2026, 1, 2, 3, 4, 5, 1, time.FixedZone("LMT", 3600+61)),                 // offset seconds are dropped
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),                                          // year 0
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),                          // last year
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),                                      // error
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),                                         // error
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 24*3600)),                    // error
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", -(23*3600+59*60))),           // the last offset
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 99*3600)),                    // error
		time.Date(2026, 6, 1, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600)).In(time.Local), // local
	} {
		tx := base
		tx.EventTime = at
		txs = append(txs, tx)
	}
	gen := NewGenerator(GeneratorConfig{Seed: 7, Cards: 1000, FraudRate: 0.2, RunID: "odd<&>"})
	for range 500 {
		ev, _ := gen.Next()
		txs = append(txs, ev.Tx)
	}

	prefix := []byte("kept")
	for i, tx := range txs {
		want, wantErr := json.Marshal(&tx)
		got, err := appendTransaction(bytes.Clone(prefix), &tx)
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%d: %+v: error %v, encoding/json's %v", i, tx, err, wantErr)
			continue
		}
		if !bytes.HasPrefix(got, prefix) {
			t.Fatalf("%d: %q lost what b held", i, got)
		}
		if got = got[len(prefix):]; err != nil {
			if len(got) != 0 {
				t.Errorf("%d: a failed append left %q", i, got)
			}
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestAppendTransactionDecodesToTheSameTransaction(t *testing.T) {
	var txs []fraud.Transaction
	for seed := range uint64(4) {
		gen := NewGenerator(GeneratorConfig{Seed: seed, Cards: 5000, FraudRate: 0.3, RunID: "rt" + string(rune('a'+seed))})
		for range 500 {
			ev, _ := gen.Next()
			txs = append(txs, ev.Tx)
		}
	}
	// Odd but valid: what the server accepts in its free-text fields and ids.
	for _, s := range []string{`quote"d`, `back\slash`, "<b>&amp;</b>", "\u2028\u2029", "é ü 漢字 🙂", "/"} {
		txs = append(txs, fraud.Transaction{ID: `id"\<&>` + "x", CardID: s, Amount: 1, Currency: "EUR",
			EventTime:  time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.FixedZone("", -7*3600)),
			MerchantID: s, MerchantCategory: s, DeviceID: s, Country: "FR", Channel: "ecom", IP: "::1",
			Status: fraud.StatusFailed})
	}
	for i, tx := range txs {
		b, err := appendTransaction(nil, &tx)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		got, err := fraud.DecodeTransaction(b, fraud.Limits{})
		if err != nil {
			t.Fatalf("%d: %s: %v", i, b, err)
		}
		if !got.EventTime.Equal(tx.EventTime) {
			t.Errorf("%d: event_time %v, want %v", i, got.EventTime, tx.EventTime)
		}
		got.EventTime, tx.EventTime = time.Time{}, time.Time{}
		if got != tx {
			t.Errorf("%d: decoded %+v, want %+v", i, got, tx)
		}
	}
}

func BenchmarkAppendTransaction(b *testing.B) {
	gen := NewGenerator(GeneratorConfig{Seed: 1, Cards: 1000, FraudRate: 0.01, RunID: "bench"})
	ev, _ := gen.Next()
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = appendTransaction(buf[:0], &ev.Tx)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(&ev.Tx)
		}
	})
}
