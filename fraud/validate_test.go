package fraud_test

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fraudscore/scorer/fraud"
)

// testLimits is the server side of validation in these tests: a fixed clock
// and the default --max-future-skew.
var testLimits = fraud.Limits{
	Now:           time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
	MaxFutureSkew: 5 * time.Minute,
}

// omit, as an override value, removes the field from the document.
type omit struct{}

// validFields is a fully populated valid transaction.
func validFields() map[string]any {
	return map[string]any{
		"transaction_id":    "tx_0001",
		"card_id":           "card_tok_9f8e7d",
		"amount":            12345,
		"currency":          "USD",
		"event_time":        "2026-03-01T13:59:00.123456789+02:00",
		"merchant_id":       "m_42",
		"merchant_category": "5411",
		"device_id":         "dev_1",
		"country":           "US",
		"channel":           "ecom",
		"ip":                "203.0.113.7",
		"status":            "approved",
	}
}

// txJSON encodes the valid transaction with the given fields replaced (or
// removed, for omit{}). A json.RawMessage value is written as is.
func txJSON(t testing.TB, with map[string]any) []byte {
	t.Helper()
	m := validFields()
	for k, v := range with {
		if _, ok := v.(omit); ok {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("encode test transaction: %v", err)
	}
	return b
}

// fieldErrors returns the field errors of err, failing the test when err is
// not a *fraud.ValidationError.
func fieldErrors(t *testing.T, err error) []fraud.FieldError {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *fraud.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *fraud.ValidationError", err, err)
	}
	return ve.Errors
}

func fieldNames(errs []fraud.FieldError) []string {
	var names []string
	for _, e := range errs {
		names = append(names, e.Field)
	}
	return names
}

func TestDecodeTransactionRules(t *testing.T) {
	tests := []struct {
		name string
		give map[string]any
		// want is the fields named by the errors, in order; none when valid.
		want []string
		// wantMessage, when set, is the message of every error.
		wantMessage string
	}{
		{name: "fully populated transaction is valid", give: nil},
		{name: "optional fields may be absent", give: map[string]any{
			"merchant_id": omit{}, "merchant_category": omit{}, "device_id": omit{},
			"country": omit{}, "channel": omit{}, "ip": omit{}, "status": omit{},
		}},
		{name: "null optional field counts as absent", give: map[string]any{"country": nil, "status": nil}},
		{name: "unknown fields are ignored", give: map[string]any{
			"extra": map[string]any{"nested": []any{1, "two", nil}}, "card_number": 5,
		}},

		// Required fields.
		{name: "missing transaction_id", give: map[string]any{"transaction_id": omit{}}, want: []string{"transaction_id"}, wantMessage: "is required"},
		{name: "missing card_id", give: map[string]any{"card_id": omit{}}, want: []string{"card_id"}, wantMessage: "is required"},
		{name: "missing amount", give: map[string]any{"amount": omit{}}, want: []string{"amount"}, wantMessage: "is required"},
		{name: "missing currency", give: map[string]any{"currency": omit{}}, want: []string{"currency"}, wantMessage: "is required"},
		{name: "missing event_time", give: map[string]any{"event_time": omit{}}, want: []string{"event_time"}, wantMessage: "is required"},
		{name: "null amount is missing", give: map[string]any{"amount": nil}, want: []string{"amount"}, wantMessage: "is required"},
		{name: "null transaction_id is missing", give: map[string]any{"transaction_id": nil}, want: []string{"transaction_id"}, wantMessage: "is required"},

		// transaction_id: 1-128 printable ASCII, no spaces.
		{name: "transaction_id of 128 characters is valid", give: map[string]any{"transaction_id": strings.Repeat("a", 128)}},
		{name: "transaction_id with all printable ASCII is valid", give: map[string]any{"transaction_id": "!\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~"}},
		{name: "empty transaction_id", give: map[string]any{"transaction_id": ""}, want: []string{"transaction_id"}},
		{name: "transaction_id of 129 characters", give: map[string]any{"transaction_id": strings.Repeat("a", 129)}, want: []string{"transaction_id"}},
		{name: "transaction_id with a space", give: map[string]any{"transaction_id": "tx 1"}, want: []string{"transaction_id"}},
		{name: "transaction_id with non-ASCII", give: map[string]any{"transaction_id": "tx_é"}, want: []string{"transaction_id"}},
		{name: "transaction_id with a control character", give: map[string]any{"transaction_id": "tx\x01"}, want: []string{"transaction_id"}},
		{name: "transaction_id with DEL", give: map[string]any{"transaction_id": "tx\x7f"}, want: []string{"transaction_id"}},

		// card_id: 1-128 characters, no control characters, not a PAN.
		{name: "card_id of 128 runes is valid", give: map[string]any{"card_id": strings.Repeat("é", 128)}},
		{name: "empty card_id", give: map[string]any{"card_id": ""}, want: []string{"card_id"}},
		{name: "card_id of 129 runes", give: map[string]any{"card_id": strings.Repeat("é", 129)}, want: []string{"card_id"}},
		{name: "card_id with a control character", give: map[string]any{"card_id": "tok\n1"}, want: []string{"card_id"}},
		{name: "card_id with DEL", give: map[string]any{"card_id": "tok\x7f"}, want: []string{"card_id"}},

		// amount: integer minor units, 0 .. 10^12.
		{name: "zero amount is valid", give: map[string]any{"amount": 0}},
		{name: "amount of 10^12 is valid", give: map[string]any{"amount": int64(1_000_000_000_000)}},
		{name: "negative amount", give: map[string]any{"amount": -1}, want: []string{"amount"}},
		{name: "amount of 10^12+1", give: map[string]any{"amount": int64(1_000_000_000_001)}, want: []string{"amount"}},
		{name: "fractional amount", give: map[string]any{"amount": 12.5}, want: []string{"amount"}, wantMessage: "must be a JSON integer"},
		{name: "amount as a string", give: map[string]any{"amount": "100"}, want: []string{"amount"}, wantMessage: "must be a JSON integer"},
		{name: "amount beyond int64", give: map[string]any{"amount": json.RawMessage("99999999999999999999")}, want: []string{"amount"}, wantMessage: "must be a JSON integer"},

		// currency: ISO 4217 alpha-3.
		{name: "currency USD is valid", give: map[string]any{"currency": "USD"}},
		{name: "currency EUR is valid", give: map[string]any{"currency": "EUR"}},
		{name: "currency JPY is valid", give: map[string]any{"currency": "JPY"}},
		{name: "lower-case currency", give: map[string]any{"currency": "usd"}, want: []string{"currency"}},
		{name: "two-letter currency", give: map[string]any{"currency": "US"}, want: []string{"currency"}},
		{name: "four-letter currency", give: map[string]any{"currency": "XXXX"}, want: []string{"currency"}},
		{name: "unknown currency", give: map[string]any{"currency": "ABC"}, want: []string{"currency"}},
		{name: "empty currency", give: map[string]any{"currency": ""}, want: []string{"currency"}},

		// event_time: RFC 3339, at most MaxFutureSkew ahead of Limits.Now.
		{name: "event_time exactly at the skew limit is valid", give: map[string]any{"event_time": "2026-03-01T12:05:00Z"}},
		{name: "event_time at the skew limit in another zone is valid", give: map[string]any{"event_time": "2026-03-01T13:05:00+01:00"}},
		{name: "old event_time is valid", give: map[string]any{"event_time": "2019-01-01T00:00:00Z"}},
		{name: "event_time a nanosecond past the skew limit", give: map[string]any{"event_time": "2026-03-01T12:05:00.000000001Z"}, want: []string{"event_time"}, wantMessage: "is more than 5m0s ahead of the server clock"},
		{name: "event_time a day ahead", give: map[string]any{"event_time": "2026-03-02T12:00:00Z"}, want: []string{"event_time"}},
		{name: "event_time with a space instead of T", give: map[string]any{"event_time": "2019-01-01 00:00:00"}, want: []string{"event_time"}},
		{name: "event_time as a date only", give: map[string]any{"event_time": "2019-01-01"}, want: []string{"event_time"}},
		{name: "event_time without a zone", give: map[string]any{"event_time": "2019-01-01T00:00:00"}, want: []string{"event_time"}},
		{name: "event_time as a Unix number", give: map[string]any{"event_time": 1546300800}, want: []string{"event_time"}, wantMessage: "must be a JSON string"},
		{name: "event_time with the largest offsets is valid", give: map[string]any{"event_time": "2026-03-01T11:59:00+23:59"}},
		{name: "event_time with offset +24:00", give: map[string]any{"event_time": "2026-03-01T11:00:00+24:00"}, want: []string{"event_time"}, wantMessage: "must be an RFC 3339 timestamp such as 2026-01-02T15:04:05Z"},
		{name: "event_time with offset -24:00", give: map[string]any{"event_time": "2026-03-01T11:00:00-24:00"}, want: []string{"event_time"}},
		{name: "event_time with offset minute 60", give: map[string]any{"event_time": "2026-03-01T11:00:00+23:60"}, want: []string{"event_time"}},
		{name: "event_time with offset hour 99", give: map[string]any{"event_time": "2026-03-01T11:00:00+99:00"}, want: []string{"event_time"}},
		{name: "event_time with a one-digit hour", give: map[string]any{"event_time": "2026-03-01T1:00:00Z"}, want: []string{"event_time"}},
		{name: "event_time with a comma before the fraction", give: map[string]any{"event_time": "2026-03-01T11:00:00,5Z"}, want: []string{"event_time"}},
		{name: "event_time whose UTC year is before 0000", give: map[string]any{"event_time": "0000-01-01T00:00:00+01:00"}, want: []string{"event_time"}},

		// merchant_id, merchant_category, device_id: up to 128 characters.
		{name: "optional text of 128 runes is valid", give: map[string]any{
			"merchant_id": strings.Repeat("ü", 128), "merchant_category": strings.Repeat("x", 128), "device_id": strings.Repeat("d", 128),
		}},
		{name: "empty optional text is valid", give: map[string]any{"merchant_id": "", "merchant_category": "", "device_id": ""}},
		{name: "merchant_id of 129 characters", give: map[string]any{"merchant_id": strings.Repeat("m", 129)}, want: []string{"merchant_id"}},
		{name: "merchant_category of 129 characters", give: map[string]any{"merchant_category": strings.Repeat("m", 129)}, want: []string{"merchant_category"}},
		{name: "device_id of 129 characters", give: map[string]any{"device_id": strings.Repeat("d", 129)}, want: []string{"device_id"}},
		{name: "device_id with a control character", give: map[string]any{"device_id": "dev\x00"}, want: []string{"device_id"}},

		// country: ISO 3166-1 alpha-2.
		{name: "country US is valid", give: map[string]any{"country": "US"}},
		{name: "country DE is valid", give: map[string]any{"country": "DE"}},
		{name: "lower-case country", give: map[string]any{"country": "us"}, want: []string{"country"}},
		{name: "alpha-3 country", give: map[string]any{"country": "USA"}, want: []string{"country"}},
		{name: "unknown region ZZ", give: map[string]any{"country": "ZZ"}, want: []string{"country"}},
		{name: "EU is a group, not a country", give: map[string]any{"country": "EU"}, want: []string{"country"}},
		{name: "empty country", give: map[string]any{"country": ""}, want: []string{"country"}},

		// channel: pos, ecom, atm, other.
		{name: "channel pos is valid", give: map[string]any{"channel": "pos"}},
		{name: "channel ecom is valid", give: map[string]any{"channel": "ecom"}},
		{name: "channel atm is valid", give: map[string]any{"channel": "atm"}},
		{name: "channel other is valid", give: map[string]any{"channel": "other"}},
		{name: "upper-case channel", give: map[string]any{"channel": "POS"}, want: []string{"channel"}},
		{name: "unknown channel", give: map[string]any{"channel": "moto"}, want: []string{"channel"}},
		{name: "empty channel", give: map[string]any{"channel": ""}, want: []string{"channel"}},

		// ip: IPv4 or IPv6, no zone.
		{name: "IPv4 address is valid", give: map[string]any{"ip": "1.2.3.4"}},
		{name: "IPv6 loopback is valid", give: map[string]any{"ip": "::1"}},
		{name: "IPv4-mapped IPv6 is valid", give: map[string]any{"ip": "::ffff:1.2.3.4"}},
		{name: "truncated IPv4", give: map[string]any{"ip": "1.2.3"}, want: []string{"ip"}},
		{name: "IPv6 with a zone", give: map[string]any{"ip": "fe80::1%eth0"}, want: []string{"ip"}},
		{name: "IP with a port", give: map[string]any{"ip": "1.2.3.4:80"}, want: []string{"ip"}},
		{name: "host name as ip", give: map[string]any{"ip": "localhost"}, want: []string{"ip"}},

		// status: approved, declined, failed.
		{name: "status approved is valid", give: map[string]any{"status": "approved"}},
		{name: "status declined is valid", give: map[string]any{"status": "declined"}},
		{name: "status failed is valid", give: map[string]any{"status": "failed"}},
		{name: "unknown status", give: map[string]any{"status": "pending"}, want: []string{"status"}},
		{name: "empty status", give: map[string]any{"status": ""}, want: []string{"status"}},

		// Several bad fields at once.
		{name: "every invalid field is named once, in field order", give: map[string]any{
			"transaction_id": "", "card_id": "4111111111111111", "amount": -5, "currency": "usd",
			"event_time": "yesterday", "merchant_id": strings.Repeat("m", 129), "country": "USA",
			"channel": "web", "ip": "1.2.3", "status": "ok",
		}, want: []string{"transaction_id", "card_id", "amount", "currency", "event_time", "merchant_id", "country", "channel", "ip", "status"}},
		{name: "every missing required field is named", give: map[string]any{
			"transaction_id": omit{}, "card_id": omit{}, "amount": omit{}, "currency": omit{}, "event_time": omit{},
		}, want: []string{"transaction_id", "card_id", "amount", "currency", "event_time"}, wantMessage: "is required"},
		{name: "every field of the wrong JSON type is named", give: map[string]any{
			"amount": "100", "card_id": 5, "transaction_id": true, "ip": []any{1},
		}, want: []string{"amount", "card_id", "ip", "transaction_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fraud.DecodeTransaction(txJSON(t, tt.give), testLimits)
			errs := fieldErrors(t, err)
			if got, want := strings.Join(fieldNames(errs), ","), strings.Join(tt.want, ","); got != want {
				t.Fatalf("fields in error = %q, want %q (error: %v)", got, want, err)
			}
			for _, e := range errs {
				if e.Message == "" {
					t.Errorf("field %s: empty message", e.Field)
				}
				if tt.wantMessage != "" && e.Message != tt.wantMessage {
					t.Errorf("field %s: message = %q, want %q", e.Field, e.Message, tt.wantMessage)
				}
			}
		})
	}
}

// A card number is refused in every identifier and free-text field,
// however it is spelled, and the error never repeats it.
func TestDecodeTransactionCardNumbers(t *testing.T) {
	const panMessage = "looks like a raw card number; send a token or hash instead"
	fields := []string{"transaction_id", "card_id", "merchant_id", "merchant_category", "device_id"}
	tests := []struct {
		name string
		give string
		want bool // refused as a card number
	}{
		{name: "16 digits", give: "4111111111111111", want: true},
		{name: "13 digits", give: "4222222222222", want: true},
		{name: "15 digits", give: "378282246310005", want: true},
		{name: "19 digits", give: "6011000000000000001", want: true},
		{name: "spaces", give: "4111 1111 1111 1111", want: true},
		{name: "dashes", give: "4111-1111-1111-1111", want: true},
		{name: "dots", give: "4111.1111.1111.1111", want: true},
		{name: "underscores", give: "4111_1111_1111_1111", want: true},
		{name: "slashes and colons", give: "4111/1111:1111/1111", want: true},
		{name: "no-break spaces", give: "4111\u00a01111\u00a01111\u00a01111", want: true},
		{name: "narrow no-break and thin spaces", give: "4111\u202f1111\u20091111\u202f1111", want: true},
		{name: "a prefix", give: "pan:4111111111111111", want: true},
		{name: "between letters", give: "tx4111111111111111x", want: true},
		{name: "inside a token", give: "card_4111111111111111", want: true},
		{name: "after a date", give: "2026-03-01/4111111111111111", want: true},
		{name: "followed by a short number", give: "4111111111111111 12", want: true},
		{name: "two joined by a comma", give: "4111111111111111,5500005555555559", want: true},
		{name: "full-width digits", give: "４１１１１１１１１１１１１１１１", want: true},
		{name: "full-width digits and spaces", give: "４１１１\u3000１１１１\u3000１１１１\u3000１１１１", want: true},
		{name: "Arabic-Indic digits", give: "٤١١١١١١١١١١١١١١١", want: true},
		{name: "Devanagari digits", give: "४१११-११११-११११-११११", want: true},
		{name: "mathematical bold digits", give: "𝟒𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏", want: true},
		{name: "digits of several scripts", give: "4111١١١١1111１１１１", want: true},
		{name: "superscript digits, read as their compatibility form", give: "⁴¹¹¹¹¹¹¹¹¹¹¹¹¹¹¹", want: true},

		{name: "12 Luhn-valid digits", give: "411111111117"},
		{name: "20 Luhn-valid digits", give: "41111111111111111115"},
		{name: "20 Luhn-valid full-width digits", give: "４１１１１１１１１１１１１１１１１１１５"},
		{name: "16 Luhn-invalid digits", give: "4111111111111112"},
		{name: "16 Luhn-invalid digits in groups", give: "4111-1111-1111-1112"},
		{name: "a card number cut by a letter", give: "41111111x11111111"},
		{name: "a UUID", give: "550e8400-e29b-41d4-a716-446655440000"},
		{name: "a short token", give: "card_7f3a9c"},
		{name: "a hex hash", give: "9f86d081884c7d659a2feaa0c55ad015"},
		{name: "a dated id", give: "tx-2026-03-01-000123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fraud.LooksLikePAN(tt.give); got != tt.want {
				t.Errorf("LooksLikePAN(%q) = %v, want %v", tt.give, got, tt.want)
			}
			if got := fraud.CheckCardID(tt.give) == panMessage; got != tt.want {
				t.Errorf("CheckCardID(%q) = %q, want refused as a card number: %v", tt.give, fraud.CheckCardID(tt.give), tt.want)
			}
			// transaction_id refuses spaces and non-ASCII before it looks
			// for a card number.
			idOK := !strings.ContainsFunc(tt.give, func(r rune) bool { return r <= ' ' || r > '~' })
			for _, field := range fields {
				_, err := fraud.DecodeTransaction(txJSON(t, map[string]any{field: tt.give}), testLimits)
				errs := fieldErrors(t, err)
				switch {
				case field == "transaction_id" && !idOK:
					if len(errs) != 1 || errs[0].Field != field {
						t.Errorf("%s: errors %+v, want %s refused", field, errs, field)
					}
				case tt.want:
					if len(errs) != 1 || errs[0].Field != field || errs[0].Message != panMessage {
						t.Errorf("%s: errors %+v, want %s: %s", field, errs, field, panMessage)
					}
				default:
					if err != nil {
						t.Errorf("%s: %v, want no error", field, err)
					}
				}
				if err != nil && strings.Contains(err.Error(), "1111") {
					t.Errorf("%s: error %q repeats digits of the value", field, err)
				}
			}
		})
	}
}

func TestCheckCardID(t *testing.T) {
	tests := []struct {
		name string
		give string
		want string
	}{
		{name: "a token", give: "card_7f3a9c", want: ""},
		{name: "empty", give: "", want: "must be 1-128 characters"},
		{name: "129 runes", give: strings.Repeat("é", 129), want: "must be 1-128 characters"},
		{name: "invalid UTF-8", give: "card_\xff", want: "must be valid UTF-8"},
		{name: "a control character", give: "card\n1", want: "must not contain control characters"},
		{name: "a card number with no-break spaces", give: "4111\u00a01111\u00a01111\u00a01111", want: "looks like a raw card number; send a token or hash instead"},
		{name: "a card number in full-width digits", give: "４１１１１１１１１１１１１１１１", want: "looks like a raw card number; send a token or hash instead"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fraud.CheckCardID(tt.give); got != tt.want {
				t.Errorf("CheckCardID(%q) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}

func TestDecodeTransactionBody(t *testing.T) {
	tests := []struct {
		name        string
		give        string
		want        []string
		wantMessage string
	}{
		{name: "empty body", give: "", want: []string{"body"}, wantMessage: "is not valid JSON"},
		{name: "not JSON", give: "transaction_id=tx_1", want: []string{"body"}, wantMessage: "is not valid JSON"},
		{name: "truncated object", give: `{"transaction_id":"tx_1"`, want: []string{"body"}, wantMessage: "is not valid JSON"},
		{name: "trailing data", give: `{} {}`, want: []string{"body"}, wantMessage: "is not valid JSON"},
		{name: "JSON array", give: `[{"transaction_id":"tx_1"}]`, want: []string{"body"}, wantMessage: "must be a JSON object"},
		{name: "JSON string", give: `"tx_1"`, want: []string{"body"}, wantMessage: "must be a JSON object"},
		{name: "JSON number", give: `42`, want: []string{"body"}, wantMessage: "must be a JSON object"},
		{name: "JSON boolean", give: `true`, want: []string{"body"}, wantMessage: "must be a JSON object"},
		{name: "JSON null", give: " null\n", want: []string{"body"}, wantMessage: "must be a JSON object"},
		{name: "empty object", give: `{}`, want: []string{"transaction_id", "card_id", "amount", "currency", "event_time"}, wantMessage: "is required"},
		{
			name:        "a repeated key of the wrong type is named and does not echo the number",
			give:        `{"transaction_id":"t","card_id":"c","amount":4111111111111111.5,"amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`,
			want:        []string{"amount"},
			wantMessage: "appears more than once",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := fraud.DecodeTransaction([]byte(tt.give), testLimits)
			errs := fieldErrors(t, err)
			if got, want := strings.Join(fieldNames(errs), ","), strings.Join(tt.want, ","); got != want {
				t.Fatalf("fields in error = %q, want %q (error: %v)", got, want, err)
			}
			if tx != (fraud.Transaction{}) {
				t.Errorf("transaction = %+v, want the zero Transaction with an error", tx)
			}
			for _, e := range errs {
				if tt.wantMessage != "" && e.Message != tt.wantMessage {
					t.Errorf("field %s: message = %q, want %q", e.Field, e.Message, tt.wantMessage)
				}
				if strings.Contains(e.Message, "4111111111111111") || strings.Contains(e.Message, "wire") {
					t.Errorf("field %s: message %q leaks the input or internals", e.Field, e.Message)
				}
			}
		})
	}
}

// doc is a JSON object of the given members, written as is so that a test
// can repeat a name or hold bytes that encoding/json would not write.
func doc(members ...string) []byte {
	return []byte("{" + strings.Join(members, ",") + "}")
}

// required are the required members of a valid transaction, in JSON.
var required = []string{
	`"transaction_id":"tx_1"`, `"card_id":"card_7f3a9c"`, `"amount":100`,
	`"currency":"USD"`, `"event_time":"2026-03-01T11:00:00Z"`,
}

// with returns the required members but those named in drop, followed by
// more.
func with(drop []string, more ...string) []string {
	var out []string
	for _, m := range required {
		if !slices.ContainsFunc(drop, func(d string) bool { return strings.HasPrefix(m, `"`+d+`":`) }) {
			out = append(out, m)
		}
	}
	return append(out, more...)
}

// The JSON itself is read strictly: exact names, no repeated names, valid
// UTF-8 only. Each fault is named on the field it is in.
func TestDecodeTransactionStrictJSON(t *testing.T) {
	tests := []struct {
		name string
		give []byte
		// want is "field: message" for each error, in order; none when valid.
		want []string
	}{
		// Names match exactly: another case is an unknown member.
		{name: "names in another case are ignored", give: doc(with(nil, `"AMOUNT":-5`, `"Card_ID":"4111111111111111"`, `"Event_Time":5`)...)},
		{name: "a name in another case does not stand for the real one", give: doc(with([]string{"card_id", "amount"}, `"CARD_ID":"card_1"`, `"Amount":100`)...),
			want: []string{"card_id: is required", "amount: is required"}},

		// Repeated names.
		{name: "repeated amount", give: doc(with(nil, `"amount":100`)...), want: []string{"amount: appears more than once"}},
		{name: "repeated card_id with another value", give: doc(with(nil, `"card_id":"card_other"`)...), want: []string{"card_id: appears more than once"}},
		{name: "repeated name spelled with an escape", give: doc(with(nil, `"\u0061mount":100`)...), want: []string{"amount: appears more than once"}},
		{name: "repeated optional field", give: doc(with(nil, `"merchant_id":"m1"`, `"merchant_id":"m2"`)...), want: []string{"merchant_id: appears more than once"}},
		{name: "repeated unknown member", give: doc(with(nil, `"extra":1`, `"extra":2`)...), want: []string{"body: must not repeat a name within an object"}},
		{name: "repeated name in a nested unknown object", give: doc(with(nil, `"extra":{"a":1,"a":2}`)...), want: []string{"body: must not repeat a name within an object"}},
		{name: "repeated name in an object where a string belongs", give: doc(with([]string{"card_id"}, `"card_id":{"a":1,"a":2}`)...), want: []string{"card_id: must be a JSON string"}},

		// Invalid UTF-8, raw or as lone surrogate escapes.
		{name: "invalid UTF-8 in card_id", give: doc(with([]string{"card_id"}, "\"card_id\":\"card_\xff\"")...), want: []string{"card_id: must be valid UTF-8"}},
		{name: "invalid UTF-8 in merchant_id", give: doc(with(nil, "\"merchant_id\":\"m\xc3\"")...), want: []string{"merchant_id: must be valid UTF-8"}},
		{name: "encoded surrogate in device_id", give: doc(with(nil, "\"device_id\":\"d\xed\xa0\x80\"")...), want: []string{"device_id: must be valid UTF-8"}},
		{name: "lone high surrogate escape in card_id", give: doc(with([]string{"card_id"}, `"card_id":"card_\ud800"`)...), want: []string{"card_id: must be valid UTF-8"}},
		{name: "lone low surrogate escape in merchant_category", give: doc(with(nil, `"merchant_category":"\udc00x"`)...), want: []string{"merchant_category: must be valid UTF-8"}},
		{name: "surrogate pair escape is valid", give: doc(with(nil, `"merchant_id":"m_\ud83d\ude00"`)...)},
		{name: "invalid UTF-8 in an unknown member", give: doc(with(nil, "\"extra\":[\"\xff\"]")...), want: []string{"body: must be valid UTF-8"}},
		{name: "invalid UTF-8 in a member name", give: doc(with(nil, "\"card_id\xff\":\"x\"")...), want: []string{"body: must be valid UTF-8"}},
		{name: "invalid UTF-8 in the name of a nested member", give: doc(with(nil, "\"extra\":{\"\xff\":1}")...), want: []string{"body: must be valid UTF-8"}},

		// Every fault is named at once.
		{name: "each faulty field is named once", give: doc(with([]string{"card_id", "currency"},
			"\"card_id\":\"\xff\"", `"amount":1`, `"currency":5`, `"currency":"USD"`, `"x":1`, `"x":1`)...),
			want: []string{"body: must not repeat a name within an object", "amount: appears more than once", "card_id: must be valid UTF-8", "currency: appears more than once"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := fraud.DecodeTransaction(tt.give, testLimits)
			var got []string
			for _, e := range fieldErrors(t, err) {
				got = append(got, e.Field+": "+e.Message)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("errors = %q, want %q", got, tt.want)
			}
			if err == nil && (tx.Amount != 100 || tx.CardID != "card_7f3a9c") {
				t.Errorf("amount, card_id = %d, %q, want those of the exactly named members, 100 and card_7f3a9c", tx.Amount, tx.CardID)
			}
		})
	}
}

func TestDecodeTransactionParsesEveryField(t *testing.T) {
	got, err := fraud.DecodeTransaction(txJSON(t, nil), testLimits)
	if err != nil {
		t.Fatalf("DecodeTransaction: %v", err)
	}
	want := fraud.Transaction{
		ID:               "tx_0001",
		CardID:           "card_tok_9f8e7d",
		Amount:           12345,
		Currency:         "USD",
		EventTime:        time.Date(2026, 3, 1, 11, 59, 0, 123456789, time.UTC),
		MerchantID:       "m_42",
		MerchantCategory: "5411",
		DeviceID:         "dev_1",
		Country:          "US",
		Channel:          "ecom",
		IP:               "203.0.113.7",
		Status:           fraud.StatusApproved,
	}
	if got.EventTime.Location() != time.UTC {
		t.Errorf("EventTime location = %v, want UTC", got.EventTime.Location())
	}
	if got != want {
		t.Errorf("DecodeTransaction =\n%+v\nwant\n%+v", got, want)
	}
}

func TestDecodeTransactionZeroNowSkipsClockChecks(t *testing.T) {
	body := txJSON(t, map[string]any{"event_time": "2099-01-01T00:00:00Z"})
	if _, err := fraud.DecodeTransaction(body, fraud.Limits{MaxEventAge: time.Hour}); err != nil {
		t.Errorf("DecodeTransaction with zero Now: %v, want no error", err)
	}
}

// event_time must stay where Unix nanoseconds can hold it, and may be
// bounded in age by the server.
func TestDecodeTransactionEventTimeRange(t *testing.T) {
	const tenYears = 3650 * 24 * time.Hour
	withAge := func(age time.Duration) fraud.Limits {
		lim := testLimits
		lim.MaxEventAge = age
		return lim
	}
	at := func(lim fraud.Limits, d time.Duration) string { return lim.Now.Add(d).Format(time.RFC3339Nano) }
	tests := []struct {
		name string
		lim  fraud.Limits
		give string
		want string // the message; "" when accepted
	}{
		{name: "the epoch is accepted", lim: testLimits, give: "1970-01-01T00:00:00Z"},
		{name: "the epoch in another zone is accepted", lim: testLimits, give: "1970-01-01T01:00:00+01:00"},
		{name: "a second before the epoch", lim: testLimits, give: "1969-12-31T23:59:59Z", want: "must not be before 1970-01-01T00:00:00Z"},
		{name: "a nanosecond before the epoch", lim: testLimits, give: "1969-12-31T23:59:59.999999999Z", want: "must not be before 1970-01-01T00:00:00Z"},
		{name: "before the epoch by its zone", lim: testLimits, give: "1970-01-01T00:59:59+01:00", want: "must not be before 1970-01-01T00:00:00Z"},
		{name: "1600 would wrap to 2184", lim: testLimits, give: "1600-01-01T00:00:00Z", want: "must not be before 1970-01-01T00:00:00Z"},
		{name: "1650 would wrap", lim: testLimits, give: "1650-06-01T00:00:00Z", want: "must not be before 1970-01-01T00:00:00Z"},
		{name: "just before the first Unix nanosecond", lim: testLimits, give: "1677-09-21T00:12:43Z", want: "must not be before 1970-01-01T00:00:00Z"},
		{name: "year 0000", lim: testLimits, give: "0000-01-01T00:00:00Z", want: "must not be before 1970-01-01T00:00:00Z"},

		{name: "exactly MaxEventAge old is accepted", lim: withAge(tenYears), give: at(testLimits, -tenYears)},
		{name: "a nanosecond older than MaxEventAge", lim: withAge(tenYears), give: at(testLimits, -tenYears-1), want: "is more than 10 years before the server clock"},
		{name: "MaxEventAge in days", lim: withAge(90 * 24 * time.Hour), give: "2019-01-01T00:00:00Z", want: "is more than 90 days before the server clock"},
		{name: "MaxEventAge in hours", lim: withAge(36 * time.Hour), give: at(testLimits, -37*time.Hour), want: "is more than 36h before the server clock"},
		{name: "MaxEventAge of one year", lim: withAge(365 * 24 * time.Hour), give: "2019-01-01T00:00:00Z", want: "is more than 1 year before the server clock"},
		{name: "the longest MaxEventAge accepts the epoch", lim: withAge(time.Duration(math.MaxInt64)), give: "1970-01-01T00:00:00Z"},
		{name: "zero MaxEventAge keeps only the floor", lim: testLimits, give: "1970-01-02T00:00:00Z"},
		{name: "the future skew rule still applies with MaxEventAge", lim: withAge(tenYears), give: at(testLimits, 6*time.Minute), want: "is more than 5m0s ahead of the server clock"},

		{name: "zero Now ignores MaxEventAge", lim: fraud.Limits{MaxEventAge: time.Hour}, give: "1971-01-01T00:00:00Z"},
		{name: "zero Now still refuses 1600", lim: fraud.Limits{}, give: "1600-01-01T00:00:00Z", want: "must not be before 1970-01-01T00:00:00Z"},
		{name: "zero Now accepts up to the ceiling", lim: fraud.Limits{}, give: "2100-01-01T00:00:00Z"},
		{name: "zero Now refuses past the ceiling", lim: fraud.Limits{}, give: "2100-01-01T00:00:00.000000001Z", want: "must not be after 2100-01-01T00:00:00Z"},
		{name: "zero Now refuses what would wrap", lim: fraud.Limits{}, give: "2262-04-12T00:00:00Z", want: "must not be after 2100-01-01T00:00:00Z"},
		{name: "zero Now refuses year 9999", lim: fraud.Limits{}, give: "9999-12-31T23:59:59Z", want: "must not be after 2100-01-01T00:00:00Z"},
		{name: "a huge skew does not lift the ceiling", lim: fraud.Limits{Now: testLimits.Now, MaxFutureSkew: time.Duration(math.MaxInt64)}, give: "2300-01-01T00:00:00Z", want: "must not be after 2100-01-01T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := fraud.DecodeTransaction(txJSON(t, map[string]any{"event_time": tt.give}), tt.lim)
			errs := fieldErrors(t, err)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("DecodeTransaction: %v, want no error", err)
				}
				if n := fraud.UnixNano(tx.EventTime); !time.Unix(0, n).Equal(tx.EventTime) {
					t.Errorf("UnixNano(%v) = %d, which is %v", tx.EventTime, n, time.Unix(0, n).UTC())
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != "event_time" || errs[0].Message != tt.want {
				t.Fatalf("errors = %+v, want event_time: %s", errs, tt.want)
			}
		})
	}
}

func TestUnixNanoSaturates(t *testing.T) {
	maxT := time.Unix(0, math.MaxInt64)
	minT := time.Unix(0, math.MinInt64)
	tests := []struct {
		name string
		give time.Time
		want int64
	}{
		{name: "the epoch", give: time.Unix(0, 0), want: 0},
		{name: "an ordinary time", give: time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC), want: 1772366400000000005},
		{name: "a time in another zone", give: time.Date(2026, 3, 1, 13, 0, 0, 5, time.FixedZone("", 3600)), want: 1772366400000000005},
		{name: "the last instant that fits", give: maxT, want: math.MaxInt64},
		{name: "a nanosecond after the last instant", give: maxT.Add(1), want: math.MaxInt64},
		{name: "year 9999", give: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), want: math.MaxInt64},
		{name: "the first instant that fits", give: minT, want: math.MinInt64},
		{name: "a nanosecond before the first instant", give: minT.Add(-1), want: math.MinInt64},
		{name: "1600 does not wrap to 2184", give: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), want: math.MinInt64},
		{name: "the zero Time", give: time.Time{}, want: math.MinInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fraud.UnixNano(tt.give); got != tt.want {
				t.Errorf("UnixNano(%v) = %d, want %d", tt.give, got, tt.want)
			}
		})
	}
}

func TestValidationErrorMessage(t *testing.T) {
	_, err := fraud.DecodeTransaction(txJSON(t, map[string]any{"amount": -1, "currency": "usd"}), testLimits)
	got := err.Error()
	want := "invalid transaction: amount: must be an integer in minor units between 0 and 10^12; currency: must be an ISO 4217 alpha-3 code such as USD"
	if got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func BenchmarkDecodeTransaction(b *testing.B) {
	body := txJSON(b, map[string]any{"event_time": "2026-03-01T11:59:00.123Z"})
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := fraud.DecodeTransaction(body, testLimits); err != nil {
			b.Fatal(err)
		}
	}
}
