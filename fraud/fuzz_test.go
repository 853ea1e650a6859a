package fraud_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fraudscore/scorer/fraud"
)

// fuzzSeeds cover a valid transaction and each kind of invalid one; more
// seeds live in testdata/fuzz/FuzzDecodeTransaction.
var fuzzSeeds = []string{
	`{"transaction_id":"tx_1","card_id":"tok_1","amount":100,"currency":"USD","event_time":"2026-03-01T11:00:00Z"}`,
	`{"transaction_id":"tx_2","card_id":"tok_2","amount":0,"currency":"EUR","event_time":"2019-01-01T00:00:00.5+05:30","merchant_id":"m","merchant_category":"5411","device_id":"d","country":"DE","channel":"pos","ip":"::1","status":"declined"}`,
	// Each kind of invalid field.
	`{"transaction_id":"tx 1","card_id":"4111 1111 1111 1111","amount":-1,"currency":"usd","event_time":"2019-01-01 00:00:00","country":"EU","channel":"web","ip":"fe80::1%eth0","status":"ok"}`,
	`{"transaction_id":"","card_id":"","amount":1000000000001,"currency":"XXXX","event_time":"2026-03-01T12:05:00.000000001Z"}`,
	`{"transaction_id":"t","card_id":"4222222222222","amount":1,"currency":"USD","event_time":"2026-03-01T12:05:00Z"}`,
	`{"transaction_id":"t","card_id":5,"amount":"100","currency":null,"event_time":1546300800}`,
	`{"amount":null}`,
	// Huge and odd numbers.
	`{"transaction_id":"t","card_id":"c","amount":4111111111111111111111,"currency":"USD","event_time":"2026-03-01T11:00:00Z"}`,
	`{"transaction_id":"t","card_id":"c","amount":4111111111111111.5,"amount":1,"currency":"USD","event_time":"2026-03-01T11:00:00Z"}`,
	`{"transaction_id":"t","card_id":"c","amount":1e400,"currency":"USD","event_time":"2026-03-01T11:00:00Z"}`,
	`{"transaction_id":"t","card_id":"c","amount":-0,"currency":"USD","event_time":"0000-01-01T00:00:00+01:00"}`,
	// Weird Unicode and escapes.
	`{"transaction_id":"t\u0000","card_id":"\ud800\udc00\u2028\ufffd","amount":1,"currency":"USD","event_time":"2026-03-01T11:00:00Z","merchant_id":"\u00e9\u4e2d"}`,
	"{\"transaction_id\":\"t\",\"card_id\":\"\xff\xfe\xed\xa0\x80\",\"amount\":1,\"currency\":\"USD\",\"event_time\":\"2026-03-01T11:00:00Z\"}",
	`{"TRANSACTION_ID":"t","Card_Id":"c","AMOUNT":1,"currency":"USD","event_time":"2026-03-01T11:00:00Z"}`,
	// Strict JSON: names in another case, repeated names, invalid UTF-8.
	`{"transaction_id":"t","card_id":"c","amount":1,"AMOUNT":-5,"Card_ID":"4111111111111111","currency":"USD","event_time":"2026-03-01T11:00:00Z"}`,
	`{"transaction_id":"t","card_id":"c","card_id":"d","amount":1,"\u0061mount":2,"currency":"USD","event_time":"2026-03-01T11:00:00Z","x":{"a":1,"a":2}}`,
	"{\"transaction_id\":\"t\",\"card_id\":\"c\xff\",\"amount\":1,\"currency\":\"USD\",\"event_time\":\"2026-03-01T11:00:00Z\",\"merchant_id\":\"m\xc3\"}",
	`{"transaction_id":"t","card_id":"c\ud800","amount":1,"currency":"USD","event_time":"2026-03-01T11:00:00Z","device_id":"\udc00"}`,
	// event_time: offsets out of range, times Unix nanoseconds cannot hold.
	`{"transaction_id":"t","card_id":"c","amount":1,"currency":"USD","event_time":"2026-03-01T11:00:00+24:00"}`,
	`{"transaction_id":"t","card_id":"c","amount":1,"currency":"USD","event_time":"2026-03-01T11:00:00+23:60"}`,
	`{"transaction_id":"t","card_id":"c","amount":1,"currency":"USD","event_time":"1600-01-01T00:00:00Z"}`,
	`{"transaction_id":"t","card_id":"c","amount":1,"currency":"USD","event_time":"1650-06-01T00:00:00Z"}`,
	`{"transaction_id":"t","card_id":"c","amount":1,"currency":"USD","event_time":"1677-09-21T00:12:43Z"}`,
	`{"transaction_id":"t","card_id":"c","amount":1,"currency":"USD","event_time":"1969-12-31T23:59:59.999999999Z"}`,
	`{"transaction_id":"t","card_id":"c","amount":1,"currency":"USD","event_time":"1970-01-01T01:00:00+01:00"}`,
	`{"transaction_id":"t","card_id":"c","amount":1,"currency":"USD","event_time":"2262-04-11T23:47:16.854775808Z"}`,
	// Card numbers, however spelled, in every identifier field.
	`{"transaction_id":"4111111111111111","card_id":"c","amount":1,"currency":"USD","event_time":"2026-03-01T11:00:00Z"}`,
	`{"transaction_id":"tx4111111111111111x","card_id":"4111.1111.1111.1111","amount":1,"currency":"USD","event_time":"2026-03-01T11:00:00Z"}`,
	`{"transaction_id":"t","card_id":"4111_1111_1111_1111","amount":1,"currency":"USD","event_time":"2026-03-01T11:00:00Z","merchant_id":"pan:4111111111111111"}`,
	`{"transaction_id":"t","card_id":"4111\u00a01111\u00a01111\u00a01111","amount":1,"currency":"USD","event_time":"2026-03-01T11:00:00Z","merchant_category":"4111 1111 1111 1111"}`,
	`{"transaction_id":"t","card_id":"\uff14\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11","amount":1,"currency":"USD","event_time":"2026-03-01T11:00:00Z","device_id":"٤١١١١١١١١١١١١١١١"}`,
	`{"transaction_id":"t","card_id":"\u0034\u0031\u0031\u0031111111111111","amount":1,"currency":"USD","event_time":"2026-03-01T11:00:00Z","device_id":"4111111111111111,5500005555555559"}`,
	`{"transaction_id":"411111111117","card_id":"41111111111111111115","amount":1,"currency":"USD","event_time":"2026-03-01T11:00:00Z","merchant_id":"4111111111111112","device_id":"550e8400-e29b-41d4-a716-446655440000"}`,
	// Nested objects, and documents that are not objects.
	`{"transaction_id":{"a":{"b":[1,2,{"c":null}]}},"card_id":[],"extra":{"x":[[[[[]]]]]}}`,
	`[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]`,
	`"4111111111111111"`,
	`null`,
	``,
	` `,
	`{`,
}

// fuzzLimits bound event_time on both sides.
var fuzzLimits = fraud.Limits{Now: testLimits.Now, MaxFutureSkew: testLimits.MaxFutureSkew, MaxEventAge: 3650 * 24 * time.Hour}

// FuzzDecodeTransaction checks that DecodeTransaction never panics, that a
// refusal is a *ValidationError naming at least one field and repeating no
// digits of the input, and that a transaction it accepts
//   - holds no card number in any text field, by the reference rule;
//   - has an event_time within the limits, which Unix nanoseconds hold;
//   - is accepted again, the same, in its canonical JSON form.
func FuzzDecodeTransaction(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tx, err := fraud.DecodeTransaction(data, fuzzLimits)
		if err != nil {
			var ve *fraud.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v (%T) is not a *fraud.ValidationError", err, err)
			}
			if len(ve.Errors) == 0 {
				t.Fatal("ValidationError without field errors")
			}
			for _, e := range ve.Errors {
				if e.Field == "" || e.Message == "" {
					t.Errorf("field error %+v: empty field or message", e)
				}
			}
			if tx != (fraud.Transaction{}) {
				t.Errorf("transaction = %+v with an error, want the zero Transaction", tx)
			}
			// The messages' own numbers (1970, 4217, 10^12...) have at
			// most 4 digits.
			if run := sharedDigitRun(string(data), err.Error(), 5); run != "" {
				t.Errorf("error %q repeats the digits %s of the input", err, run)
			}
			return
		}

		// ip is left out: it must parse as an address, whose groups are
		// hexadecimal, and "2001:4860:4860::8888" is no card number.
		for name, v := range map[string]string{
			"transaction_id": tx.ID, "card_id": tx.CardID, "merchant_id": tx.MerchantID,
			"merchant_category": tx.MerchantCategory, "device_id": tx.DeviceID,
			"currency": tx.Currency, "country": tx.Country, "channel": tx.Channel, "status": string(tx.Status),
		} {
			if pan := refPAN(v); pan != "" {
				t.Errorf("accepted %s %q holds the card number %s", name, v, pan)
			}
		}
		et := tx.EventTime
		if et.Before(fraud.MinEventTime) || et.After(fraud.MaxEventTime) ||
			et.After(fuzzLimits.Now.Add(fuzzLimits.MaxFutureSkew)) || et.Before(fuzzLimits.Now.Add(-fuzzLimits.MaxEventAge)) {
			t.Errorf("accepted event_time %v, outside the limits", et)
		}
		if n := fraud.UnixNano(et); !time.Unix(0, n).Equal(et) {
			t.Errorf("accepted event_time %v is %d Unix nanoseconds, which is %v", et, n, time.Unix(0, n).UTC())
		}

		// encoding/json writes event_time as RFC 3339 with nanoseconds.
		again, err := json.Marshal(tx)
		if err != nil {
			t.Fatalf("accepted transaction %+v does not encode: %v", tx, err)
		}
		got, err := fraud.DecodeTransaction(again, fuzzLimits)
		if err != nil {
			t.Fatalf("accepted transaction %+v, re-encoded as %s, is refused: %v", tx, again, err)
		}
		if got != tx {
			t.Fatalf("re-decoding %s = %+v, want %+v", again, got, tx)
		}
	})
}

// sharedDigitRun returns a run of at least n digits of input that appears in
// msg, or "".
func sharedDigitRun(input, msg string, n int) string {
	for i := 0; i < len(input); {
		j := i
		for j < len(input) && input[j] >= '0' && input[j] <= '9' {
			j++
		}
		for k := i; k+n <= j; k++ {
			if strings.Contains(msg, input[k:k+n]) {
				return input[k : k+n]
			}
		}
		i = j + 1
	}
	return ""
}

// FuzzMaskPANs checks that no card number is left in the masked bytes, by
// the reference rule, whether they are read as they are or with their JSON
// escapes decoded; that masking only turns digits into '*' and leaves the
// input alone; and that masked bytes have nothing left to mask.
func FuzzMaskPANs(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		"4111111111111111", "4111 1111 1111 1111", "4111.1111.1111.1111", "4111_1111_1111_1111",
		"4111\u00a01111\u00a01111\u00a01111", "pan:4111111111111111", "tx4111111111111111x",
		"４１１１１１１１１１１１１１１１", "٤١١١١١١١١١١١١١١١", "𝟒𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏",
		`"\u0034\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031"`,
		`"\ud835\udfd2\ud835\udfcf11111111111111"`, `"\u4111111111111111"`, `"4111\n1111\n1111\n1111"`,
		`\\u0034111111111111111`, "4111\xff1111\xfe1111\xc31111", `[1,4111111111111111,22]`,
		"41111111111111111115", "4111111111111111,5500005555555559", "1234 5678 9012 3456 7890 1234",
		"4111111111111111²", "⁴¹¹¹¹¹¹¹¹¹¹¹¹¹¹¹", "411111111111111①",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		out, found := fraud.MaskPANs(b)
		if !bytes.Equal(b, in) {
			t.Fatalf("MaskPANs changed its input %q to %q", in, b)
		}
		if found == bytes.Equal(out, in) {
			t.Errorf("MaskPANs(%q) = %q, found %v", in, out, found)
		}
		if pan := refPAN(outsideDigests(string(out))); pan != "" {
			t.Errorf("MaskPANs(%q) = %q, which holds the card number %s", in, out, pan)
		}
		if pan := refPAN(outsideDigests(refUnescape(out))); pan != "" {
			t.Errorf("MaskPANs(%q) = %q, which holds the card number %s once unescaped", in, out, pan)
		}
		if !onlyStarred(in, out) {
			t.Errorf("MaskPANs(%q) = %q, which is not the input with some of it turned into '*'", in, out)
		}
		if again, found := fraud.MaskPANs(out); found {
			t.Errorf("MaskPANs(%q) = %q, in which MaskPANs masks again: %q", in, out, again)
		}
	})
}

// onlyStarred reports whether out is in with some of its pieces replaced by
// a single '*' each: every byte of out but the stars is in the same order
// in in, and out is no longer.
func onlyStarred(in, out []byte) bool {
	if len(out) > len(in) {
		return false
	}
	i := 0
	for _, c := range out {
		if c == '*' {
			continue
		}
		for i < len(in) && in[i] != c {
			i++
		}
		if i == len(in) {
			return false
		}
		i++
	}
	return true
}

// outsideDigests blanks what lies between the first and last letters of
// every lower-case hex digest in s (32, 40 or 64 characters, the rule's one
// exception), which MaskPANs leaves as it is.
func outsideDigests(s string) string {
	alnum := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	b := []byte(s)
	for i := 0; i < len(b); {
		if !alnum(b[i]) {
			i++
			continue
		}
		j := i
		for j < len(b) && alnum(b[j]) {
			j++
		}
		tok := string(b[i:j])
		if n := len(tok); (n == 32 || n == 40 || n == 64) && strings.Trim(tok, "0123456789abcdef") == "" && strings.Trim(tok, "0123456789") != "" {
			first := strings.IndexAny(tok, "abcdef")
			last := strings.LastIndexAny(tok, "abcdef")
			for k := i + first; k <= i+last; k++ {
				b[k] = 'a'
			}
		}
		i = j
	}
	return string(b)
}
