package fraud

import (
	"bytes"
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"golang.org/x/text/currency"
	"golang.org/x/text/language"
)

// MaxAmount is the largest accepted amount in minor units.
const MaxAmount = 1_000_000_000_000

// MaxFieldLen is the longest accepted identifier or free-text field.
const MaxFieldLen = 128

// FieldError names one invalid field. Messages never echo the value, so a
// card number sent by mistake does not travel further in an error.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every invalid field of a transaction.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, f := range e.Errors {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid transaction: " + strings.Join(parts, "; ")
}

func (e *ValidationError) add(field, msg string) {
	e.Errors = append(e.Errors, FieldError{Field: field, Message: msg})
}

// Limits are the server-side rules that depend on configuration. Whatever
// they say, event_time must lie within [MinEventTime, MaxEventTime].
type Limits struct {
	// Now is the server clock; event_time may be at most MaxFutureSkew ahead
	// of it and, when MaxEventAge > 0, at most MaxEventAge behind it. A zero
	// Now turns both checks off.
	Now           time.Time
	MaxFutureSkew time.Duration
	MaxEventAge   time.Duration
}

// wire is the JSON shape of a transaction, with pointers so that a missing
// field can be told from a zero value.
type wire struct {
	ID       *string `json:"transaction_id"`
	CardID   *string `json:"card_id"`
	Amount   *int64  `json:"amount"`
	Currency *string `json:"currency"`
	// EventTime is kept raw, to be parsed as a time.Time by encoding/json/v2,
	// which reads RFC 3339 strictly where time.Parse does not (it takes
	// +24:00 as an offset).
	EventTime        jsontext.Value `json:"event_time"`
	MerchantID       *string        `json:"merchant_id"`
	MerchantCategory *string        `json:"merchant_category"`
	DeviceID         *string        `json:"device_id"`
	Country          *string        `json:"country"`
	Channel          *string        `json:"channel"`
	IP               *string        `json:"ip"`
	Status           *string        `json:"status"`
}

// fieldTypes is the JSON type each known field must have, for the slow path
// that names every mistyped field.
var fieldTypes = map[string]string{
	"transaction_id": "string", "card_id": "string", "amount": "integer",
	"currency": "string", "event_time": "string", "merchant_id": "string",
	"merchant_category": "string", "device_id": "string", "country": "string",
	"channel": "string", "ip": "string", "status": "string",
}

// DecodeTransaction parses and validates a transaction from JSON. It returns
// a *ValidationError naming each bad field (or "body" when the document is
// not a JSON object) and never panics, whatever the input. Unknown fields
// are ignored.
//
// The JSON is read strictly (the defaults of encoding/json/v2): names match
// exactly, so "AMOUNT" is an unknown field and cannot override "amount"; a
// name given twice is an error, as two readers of the document could take
// different values from it; and invalid UTF-8 is an error, as replacing it
// with U+FFFD would make different byte strings the same card.
func DecodeTransaction(data []byte, lim Limits) (Transaction, error) {
	var w wire
	if err := json.Unmarshal(data, &w); err != nil {
		// Not err.Error(): it can echo the offending value (a card number
		// sent by mistake) and names internal Go types.
		return Transaction{}, decodeSlow(data)
	}
	if jsontext.Value(data).Kind() == 'n' {
		return Transaction{}, &ValidationError{Errors: []FieldError{{Field: "body", Message: "must be a JSON object"}}}
	}
	return w.validate(lim)
}

// lenient reads JSON that repeats names or holds invalid UTF-8, so that the
// slow path can name the fields with those faults.
var lenient = []json.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// decodeSlow runs when the strict decode failed: it names every known field
// that is repeated, holds invalid UTF-8 or has the wrong JSON type, or
// reports the body as malformed. Faults in unknown members are reported on
// "body": their names come from the client and could hold a card number.
func decodeSlow(data []byte) error {
	ve := &ValidationError{}
	if !jsontext.Value(data).IsValid(lenient...) {
		ve.add("body", "is not valid JSON")
		return ve
	}
	if jsontext.Value(data).Kind() != '{' {
		ve.add("body", "must be a JSON object")
		return ve
	}

	faults := map[string]fault{} // by known field; "" for the body
	mark := func(name string, f fault) {
		if _, known := fieldTypes[name]; !known {
			name = ""
		}
		faults[name] = max(faults[name], f)
	}
	seen := map[string]bool{}
	dec := jsontext.NewDecoder(bytes.NewReader(data), lenient...)
	if _, err := dec.ReadToken(); err != nil { // '{'
		ve.add("body", "is not valid JSON")
		return ve
	}
	for dec.PeekKind() == '"' {
		rawName, err := dec.ReadValue()
		if err != nil {
			break
		}
		if !rawName.IsValid() {
			mark("", badUTF8)
			if _, err := dec.ReadValue(); err != nil {
				break
			}
			continue
		}
		b, _ := jsontext.AppendUnquote(nil, rawName)
		name := string(b)
		if seen[name] {
			mark(name, repeated)
		}
		seen[name] = true

		raw, err := dec.ReadValue()
		if err != nil {
			break
		}
		want, known := fieldTypes[name]
		switch {
		case raw.IsValid():
			if known && !hasType(raw, want) {
				mark(name, mistyped)
			}
		case !raw.IsValid(jsontext.AllowDuplicateNames(true)):
			mark(name, badUTF8)
		case known: // an object, where a string or number belongs
			mark(name, mistyped)
		default: // a name repeated in a nested object
			mark(name, repeated)
		}
	}

	for _, k := range slices.Sorted(maps.Keys(faults)) { // "" (the body) first
		field := cmp.Or(k, "body")
		switch faults[k] {
		case badUTF8:
			ve.add(field, "must be valid UTF-8")
		case repeated:
			if k == "" {
				ve.add(field, "must not repeat a name within an object")
			} else {
				ve.add(field, "appears more than once")
			}
		case mistyped:
			ve.add(field, "must be a JSON "+fieldTypes[k])
		}
	}
	if len(ve.Errors) == 0 {
		ve.add("body", "could not be decoded")
	}
	return ve
}

// fault is what the slow path found wrong with a member; a member with
// several faults is reported with the greatest.
type fault int

const (
	mistyped fault = iota + 1
	repeated
	badUTF8
)

// hasType reports whether raw decodes as the JSON type want ("string" or
// "integer", null included), as the strict decode would read it.
func hasType(raw jsontext.Value, want string) bool {
	var err error
	switch want {
	case "string":
		var s *string
		err = json.Unmarshal(raw, &s)
	case "integer":
		var n *int64
		err = json.Unmarshal(raw, &n)
	}
	return err == nil
}

func (w *wire) validate(lim Limits) (Transaction, error) {
	ve := &ValidationError{}
	var tx Transaction

	if w.ID == nil {
		ve.add("transaction_id", "is required")
	} else if msg := checkID(*w.ID); msg != "" {
		ve.add("transaction_id", msg)
	} else {
		tx.ID = *w.ID
	}

	if w.CardID == nil {
		ve.add("card_id", "is required")
	} else if msg := CheckCardID(*w.CardID); msg != "" {
		ve.add("card_id", msg)
	} else {
		tx.CardID = *w.CardID
	}

	switch {
	case w.Amount == nil:
		ve.add("amount", "is required")
	case *w.Amount < 0 || *w.Amount > MaxAmount:
		ve.add("amount", "must be an integer in minor units between 0 and 10^12")
	default:
		tx.Amount = *w.Amount
	}

	if w.Currency == nil {
		ve.add("currency", "is required")
	} else if !validCurrency(*w.Currency) {
		ve.add("currency", "must be an ISO 4217 alpha-3 code such as USD")
	} else {
		tx.Currency = *w.Currency
	}

	if t, msg := w.eventTime(lim); msg != "" {
		ve.add("event_time", msg)
	} else {
		tx.EventTime = t
	}

	tx.MerchantID = optionalText(ve, "merchant_id", w.MerchantID)
	tx.MerchantCategory = optionalText(ve, "merchant_category", w.MerchantCategory)
	tx.DeviceID = optionalText(ve, "device_id", w.DeviceID)

	if w.Country != nil {
		if !validCountry(*w.Country) {
			ve.add("country", "must be an ISO 3166-1 alpha-2 code such as US")
		} else {
			tx.Country = *w.Country
		}
	}
	if w.Channel != nil {
		switch *w.Channel {
		case "pos", "ecom", "atm", "other":
			tx.Channel = *w.Channel
		default:
			ve.add("channel", "must be one of pos, ecom, atm, other")
		}
	}
	if w.IP != nil {
		if _, err := netip.ParseAddr(*w.IP); err != nil || strings.Contains(*w.IP, "%") {
			ve.add("ip", "must be an IPv4 or IPv6 address")
		} else {
			tx.IP = *w.IP
		}
	}
	if w.Status != nil {
		switch s := Status(*w.Status); s {
		case StatusApproved, StatusDeclined, StatusFailed:
			tx.Status = s
		default:
			ve.add("status", "must be one of approved, declined, failed")
		}
	}

	if len(ve.Errors) > 0 {
		return Transaction{}, ve
	}
	return tx, nil
}

// eventTime parses and checks event_time, returning it in UTC, or why it
// is not acceptable.
func (w *wire) eventTime(lim Limits) (time.Time, string) {
	switch w.EventTime.Kind() {
	case 'n', 0: // null, or absent
		return time.Time{}, "is required"
	case '"':
	default:
		return time.Time{}, "must be a JSON string"
	}
	var t time.Time
	if err := json.Unmarshal(w.EventTime, &t); err != nil {
		return time.Time{}, "must be an RFC 3339 timestamp such as 2026-01-02T15:04:05Z"
	}
	if msg := checkEventTime(t, lim); msg != "" {
		return time.Time{}, msg
	}
	return t.UTC(), ""
}

// panMessage is the error for a field that holds a card number. Like every
// message, it does not repeat the value.
const panMessage = "looks like a raw card number; send a token or hash instead"

// checkID validates a transaction_id: 1-128 printable ASCII, no spaces,
// no card number (it is echoed in every result).
func checkID(s string) string {
	if len(s) == 0 || len(s) > MaxFieldLen {
		return "must be 1-128 characters"
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return "must be printable ASCII without spaces"
		}
	}
	if IDLooksLikePAN(s) {
		return panMessage
	}
	return ""
}

// CheckCardID returns why s is not an acceptable card_id, or "" when it is.
// A value that holds a raw card number, however spelled (see LooksLikePAN),
// is refused so that PANs never reach storage or logs.
func CheckCardID(s string) string {
	n := utf8.RuneCountInString(s)
	if n == 0 || n > MaxFieldLen {
		return "must be 1-128 characters"
	}
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	if hasControl(s) {
		return "must not contain control characters"
	}
	if LooksLikePAN(s) {
		return panMessage
	}
	return ""
}

// optionalText checks a free-text field: up to 128 characters, no control
// characters, no card number.
func optionalText(ve *ValidationError, field string, v *string) string {
	if v == nil {
		return ""
	}
	s := *v
	switch {
	case utf8.RuneCountInString(s) > MaxFieldLen:
		ve.add(field, "must be at most 128 characters")
	case hasControl(s):
		ve.add(field, "must not contain control characters")
	case LooksLikePAN(s):
		ve.add(field, panMessage)
	default:
		return s
	}
	return ""
}

// hasControl reports whether s holds an ASCII control character or DEL.
func hasControl(s string) bool {
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return true
		}
	}
	return false
}

func validCurrency(s string) bool {
	if len(s) != 3 || strings.ToUpper(s) != s {
		return false
	}
	_, err := currency.ParseISO(s)
	return err == nil
}

func validCountry(s string) bool {
	if len(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
		return false
	}
	r, err := language.ParseRegion(s)
	return err == nil && r.IsCountry()
}

// CheckTransactionID returns why s is not an acceptable transaction_id, or
// "" when it is: for identifiers given elsewhere than in a transaction,
// such as a path.
func CheckTransactionID(s string) string { return checkID(s) }
