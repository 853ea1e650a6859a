package loadtest

import (
	"errors"
	"strconv"
	"time"

	"github.com/fraudscore/scorer/fraud"
)

// appendTransaction appends tx as JSON to b: the same bytes as
// encoding/json's Marshal of a fraud.Transaction (its struct tags, the
// omitempty fields left out when empty, event_time as time.Time marshals
// it), without reflection or allocation, because the fast client encodes
// one for every request. Like Marshal, it fails for an event_time that RFC
// 3339 cannot carry; b is then returned unchanged.
func appendTransaction(b []byte, tx *fraud.Transaction) ([]byte, error) {
	n0 := len(b)
	b = append(b, `{"transaction_id":`...)
	b = fraud.AppendString(b, tx.ID)
	b = append(b, `,"card_id":`...)
	b = fraud.AppendString(b, tx.CardID)
	b = append(b, `,"amount":`...)
	b = strconv.AppendInt(b, tx.Amount, 10)
	b = append(b, `,"currency":`...)
	b = fraud.AppendString(b, tx.Currency)
	b = append(b, `,"event_time":"`...)
	var err error
	if b, err = appendEventTime(b, tx.EventTime); err != nil {
		return b[:n0], err
	}
	b = append(b, '"')
	b = appendOptional(b, `,"merchant_id":`, tx.MerchantID)
	b = appendOptional(b, `,"merchant_category":`, tx.MerchantCategory)
	b = appendOptional(b, `,"device_id":`, tx.DeviceID)
	b = appendOptional(b, `,"country":`, tx.Country)
	b = appendOptional(b, `,"channel":`, tx.Channel)
	b = appendOptional(b, `,"ip":`, tx.IP)
	b = appendOptional(b, `,"status":`, string(tx.Status))
	return append(b, '}'), nil
}

// appendOptional appends an omitempty string member: nothing when s is "".
func appendOptional(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return fraud.AppendString(append(b, key...), s)
}

// appendEventTime appends t in RFC 3339 with nanoseconds, as
// time.Time.MarshalJSON writes it between its quotes, and fails where it
// fails: a year outside [0,9999] or a zone offset of 24 hours or more.
func appendEventTime(b []byte, t time.Time) ([]byte, error) {
	n0 := len(b)
	b = t.AppendFormat(b, time.RFC3339Nano)
	switch {
	case len(b)-n0 < len("2006-01-02T15:04:05Z") || b[n0+len("2006")] != '-':
		return b[:n0], errors.New("event_time: year outside of range [0,9999]")
	case b[len(b)-1] != 'Z':
		c := b[len(b)-len("Z07:00")]
		hh := 10*int(b[len(b)-5]-'0') + int(b[len(b)-4]-'0')
		if ('0' <= c && c <= '9') || hh >= 24 {
			return b[:n0], errors.New("event_time: timezone hour outside of range [0,23]")
		}
	}
	return b, nil
}
