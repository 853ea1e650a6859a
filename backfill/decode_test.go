package backfill

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fraudscore/scorer/fraud"
)

// decodeOne decodes rec with d as Read does and returns the transaction,
// resolving d's dictionary ids through all (which it keeps up to date).
func decodeOne(d *decoder, all *[numDict][]string, rec []byte) (fraud.Transaction, error) {
	var r row
	var ids []byte
	err := d.decode(rec, &r, &ids)
	news := d.takeNews()
	for f := range all {
		if all[f] == nil {
			all[f] = []string{""}
		}
		all[f] = append(all[f], news[f]...)
	}
	if err != nil {
		return fraud.Transaction{}, err
	}
	return fraud.Transaction{
		ID: string(ids), Amount: r.amount, EventTime: time.Unix(0, r.t).UTC(),
		CardID: all[fCard][r.f[fCard]], Currency: all[fCurrency][r.f[fCurrency]],
		MerchantID: all[fMerchant][r.f[fMerchant]], MerchantCategory: all[fCategory][r.f[fCategory]],
		DeviceID: all[fDevice][r.f[fDevice]], Country: all[fCountry][r.f[fCountry]],
		Channel: all[fChannel][r.f[fChannel]], IP: all[fIP][r.f[fIP]], Status: fraud.Status(all[fStatus][r.f[fStatus]]),
	}, nil
}

// slowOne is the reference: card numbers in identifiers replaced, then
// fraud.DecodeTransaction.
func slowOne(rec []byte) (fraud.Transaction, int64, error) {
	d := newDecoder()
	tx, err := d.slow(rec)
	return tx, d.tokens, err
}

// checkSame fails unless decoding rec (fast path first) gives what the
// reference gives: the same transaction, error fields and token count.
func checkSame(t *testing.T, rec []byte) (fast bool) {
	t.Helper()
	var all [numDict][]string
	d := newDecoder()
	var r row
	var ids []byte
	fast = d.fast(rec, &r, &ids)
	d = newDecoder()
	got, err := decodeOne(d, &all, rec)
	want, wantTokens, wantErr := slowOne(rec)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("decode(%q): err = %v, want %v (fast path: %v)", rec, err, wantErr, fast)
	}
	if err != nil {
		var ve, wve *fraud.ValidationError
		if !errors.As(err, &ve) || !errors.As(wantErr, &wve) || !reflect.DeepEqual(ve.Errors, wve.Errors) {
			t.Fatalf("decode(%q): err = %v, want %v", rec, err, wantErr)
		}
		return fast
	}
	if !got.EventTime.Equal(want.EventTime) {
		t.Fatalf("decode(%q): event_time %v, want %v", rec, got.EventTime, want.EventTime)
	}
	got.EventTime, want.EventTime = time.Time{}, time.Time{}
	if got != want {
		t.Fatalf("decode(%q):\n got %+v\nwant %+v (fast path: %v)", rec, got, want, fast)
	}
	if d.tokens != wantTokens {
		t.Fatalf("decode(%q): %d tokens, want %d", rec, d.tokens, wantTokens)
	}
	return fast
}

const plainRecord = `{"transaction_id":"0b242abb623afc578575680df30655b9","card_id":"card_4111111111111111","amount":497,"currency":"USD","merchant_id":"fraud_Rippin, Kub and Mann","merchant_category":"misc_net","country":"US","channel":"ecom","event_time":"2019-01-01T00:00:18Z"}`

// decodeCases are records near the edges of the fast path, each of which
// must decode as fraud.DecodeTransaction decodes it.
var decodeCases = []struct {
	name string
	rec  string
	fast bool // the fast path takes it
}{
	{"a plain Sparkov record", plainRecord, true},
	{"all fields", `{"transaction_id":"t-1","card_id":"tok_abc","amount":0,"currency":"EUR","event_time":"2020-02-29T23:59:59.123456789Z","merchant_id":"m","merchant_category":"grocery_pos","device_id":"dev 1","country":"FR","channel":"pos","ip":"192.0.2.1","status":"declined"}`, true},
	{"spaces between tokens and a CR at the end", " {\t\"transaction_id\" : \"a\" , \"card_id\":\"c\",\"amount\":1,\"currency\":\"USD\",\"event_time\":\"2019-01-01T00:00:00Z\" } \r", true},
	{"a fraction of one digit", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00.5Z"}`, true},
	{"a card number as transaction_id", `{"transaction_id":"4111111111111111","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, true},
	{"a card number as merchant_id and device_id", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z","merchant_id":"4111-1111-1111-1111","device_id":"5500 0000 0000 0004"}`, true},
	{"a 12-digit card id is no card number", `{"transaction_id":"a","card_id":"card_630423337322","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, true},
	{"an escaped card number", `{"transaction_id":"a","card_id":"card_\u00341111111111111111","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, false},
	{"an escaped name", `{"transaction_id":"a","card\u005fid":"4111111111111111","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, false},
	{"a card number in merchant_category is refused", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z","merchant_category":"4111111111111111"}`, false},
	{"a card number in a 200-character transaction_id is tokenized", `{"transaction_id":"` + strings.Repeat("x", 184) + `4111111111111111","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, true},
	{"a transaction_id of 129 characters", `{"transaction_id":"` + strings.Repeat("x", 129) + `","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, false},
	{"a transaction_id of 128 characters", `{"transaction_id":"` + strings.Repeat("x", 128) + `","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, true},
	{"a space in transaction_id", `{"transaction_id":"a b","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, false},
	{"an empty transaction_id", `{"transaction_id":"","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, false},
	{"an empty card_id", `{"transaction_id":"a","card_id":"","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, false},
	{"an empty merchant_id", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z","merchant_id":""}`, true},
	{"DEL in card_id", "{\"transaction_id\":\"a\",\"card_id\":\"c\x7f\",\"amount\":1,\"currency\":\"USD\",\"event_time\":\"2019-01-01T00:00:00Z\"}", false},
	{"UTF-8 in merchant_id", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z","merchant_id":"café"}`, false},
	{"invalid UTF-8 in card_id", "{\"transaction_id\":\"a\",\"card_id\":\"c\xff\",\"amount\":1,\"currency\":\"USD\",\"event_time\":\"2019-01-01T00:00:00Z\"}", false},
	{"a missing amount", `{"transaction_id":"a","card_id":"c","currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, false},
	{"a null amount", `{"transaction_id":"a","card_id":"c","amount":null,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, false},
	{"a negative amount", `{"transaction_id":"a","card_id":"c","amount":-1,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, false},
	{"the largest amount", `{"transaction_id":"a","card_id":"c","amount":1000000000000,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, true},
	{"an amount over the largest", `{"transaction_id":"a","card_id":"c","amount":1000000000001,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, false},
	{"an amount with a leading zero", `{"transaction_id":"a","card_id":"c","amount":01,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, false},
	{"an amount with a fraction", `{"transaction_id":"a","card_id":"c","amount":1.0,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, false},
	{"an amount with an exponent", `{"transaction_id":"a","card_id":"c","amount":1e2,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, false},
	{"an amount as a string", `{"transaction_id":"a","card_id":"c","amount":"1","currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, false},
	{"a lower-case currency", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"usd","event_time":"2019-01-01T00:00:00Z"}`, false},
	{"an unknown currency", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"XYZ","event_time":"2019-01-01T00:00:00Z"}`, false},
	{"a country that is no country", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z","country":"EU"}`, false},
	{"an unknown channel", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z","channel":"web"}`, false},
	{"an unknown status", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z","status":"ok"}`, false},
	{"an IPv6 address", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z","ip":"2001:db8::1"}`, true},
	{"an IP with a zone", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z","ip":"fe80::1%eth0"}`, false},
	{"a time with an offset", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T02:00:00+02:00"}`, false},
	{"a lower-case t and z", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01t00:00:00z"}`, false},
	{"February 29 of a common year", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-02-29T00:00:00Z"}`, false},
	{"hour 24", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T24:00:00Z"}`, false},
	{"a leap second", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2016-12-31T23:59:60Z"}`, false},
	{"ten fraction digits", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00.1234567891Z"}`, false},
	{"a time before 1970", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"1969-12-31T23:59:59Z"}`, false},
	{"the epoch", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"1970-01-01T00:00:00Z"}`, true},
	{"the latest time", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2100-01-01T00:00:00Z"}`, true},
	{"a time after 2100", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2100-01-01T00:00:00.000000001Z"}`, false},
	{"a time that is a number", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":1546300800}`, false},
	{"a repeated field", `{"transaction_id":"a","card_id":"c","card_id":"d","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, false},
	{"an unknown field", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z","note":"x"}`, false},
	{"a repeated unknown field", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z","note":1,"note":2}`, false},
	{"an upper-case name", `{"transaction_id":"a","card_id":"c","amount":1,"AMOUNT":2,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`, false},
	{"a trailing comma", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z",}`, false},
	{"trailing content", `{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z"} {}`, false},
	{"a card number with trailing content", `{"transaction_id":"a","card_id":"4111111111111111","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}x`, false},
	{"an array", `[1,2]`, false},
	{"null", `null`, false},
	{"an empty object", `{}`, false},
	{"not JSON", `transaction_id=a`, false},
}

func TestDecodeAgreesWithDecodeTransaction(t *testing.T) {
	for _, c := range decodeCases {
		t.Run(c.name, func(t *testing.T) {
			if fast := checkSame(t, []byte(c.rec)); fast != c.fast {
				t.Errorf("fast path took it: %v, want %v", fast, c.fast)
			}
		})
	}
}

func TestDecodeNeverKeepsACardNumber(t *testing.T) {
	var all [numDict][]string
	d := newDecoder()
	tx, err := decodeOne(d, &all, []byte(plainRecord))
	if err != nil {
		t.Fatal(err)
	}
	if tx.CardID != fraud.Tokenize("card_4111111111111111") || strings.Contains(tx.CardID, "4111") {
		t.Errorf("card_id = %q, want the token of the card number", tx.CardID)
	}
	// The same card a second time comes from the cache: still a token,
	// still counted.
	if _, err := decodeOne(d, &all, []byte(plainRecord)); err != nil {
		t.Fatal(err)
	}
	if d.tokens != 2 {
		t.Errorf("tokens = %d, want 2", d.tokens)
	}
}

func TestDecodeCacheStartsOverWhenFull(t *testing.T) {
	var all [numDict][]string
	d := newDecoder()
	d.maxCache = 8
	for i := range 30 {
		m := fmt.Sprintf("m%d", i%20)
		rec := strings.Replace(plainRecord, `"fraud_Rippin, Kub and Mann"`, `"`+m+`"`, 1)
		tx, err := decodeOne(d, &all, []byte(rec))
		if err != nil {
			t.Fatal(err)
		}
		if tx.MerchantID != m {
			t.Fatalf("merchant_id = %q, want %q", tx.MerchantID, m)
		}
		if n := len(d.cache[fMerchant]); n > d.maxCache {
			t.Fatalf("the merchant cache holds %d values, want at most %d", n, d.maxCache)
		}
	}
}

// FuzzDecode checks that the fast path never reads a record otherwise than
// fraud.DecodeTransaction does.
func FuzzDecode(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c.rec))
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		checkSame(t, rec)
	})
}

// BenchmarkDecode decodes the Sparkov sample's records, one a time.
func BenchmarkDecode(b *testing.B) {
	raw, err := os.ReadFile("../../shared/data/sparkov/transactions.jsonl")
	if err != nil {
		b.Skipf("the Sparkov sample is not here: %v", err)
	}
	lines := bytes.Split(bytes.TrimSpace(raw), []byte("\n"))
	d := newDecoder()
	var r row
	ids := make([]byte, 0, 1<<10)
	i := 0
	for b.Loop() {
		if err := d.decode(lines[i%len(lines)], &r, &ids); err != nil {
			b.Fatal(err)
		}
		d.takeNews()
		ids = ids[:0]
		i++
	}
}
