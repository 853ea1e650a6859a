// Package deadletter moves records that cannot be processed to a
// dead-letter topic, retries transient failures first, and re-drives dead
// letters to their source topic.
//
//	attempts, err := deadletter.Retry(ctx, deadletter.Policy{}, score, isPermanent)
//	if err != nil {
//		err = dlq.Send(ctx, msg, deadletter.Failure{Class: deadletter.Processing, Err: err, Attempts: attempts})
//	}
package deadletter

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/fraud"
)

// Class says why a record was dead-lettered; it goes into the
// dlq.error.class header.
type Class string

// The classes of failure. A record of class Decode, Validation or Conflict
// will fail the same way every time; Processing failures were transient
// ones that outlasted the retries and may succeed when replayed.
const (
	Decode     Class = "decode"
	Validation Class = "validation"
	Processing Class = "processing"
	// Conflict: the record reuses a known transaction_id with different
	// fields (amount, merchant, ...), which would silently change meaning.
	Conflict Class = "conflict"
)

// Classes lists every class, for metrics and the replay command's filter.
var Classes = []Class{Decode, Validation, Processing, Conflict}

// Failure describes why a record could not be processed.
type Failure struct {
	// Class is recorded as is; empty means Processing.
	Class Class
	// Err is the last error; nil is recorded as an empty message.
	Err error
	// Attempts made before giving up; values below 1 are recorded as 1.
	Attempts int
}

// The headers a dead-letter record carries on top of the original ones.
const (
	HeaderClass        = "dlq.error.class"
	HeaderMessage      = "dlq.error.message"
	HeaderTopic        = "dlq.source.topic"
	HeaderPartition    = "dlq.source.partition"
	HeaderOffset       = "dlq.source.offset"
	HeaderAttempts     = "dlq.attempts"
	HeaderFailedAt     = "dlq.failed_at"
	HeaderReplayedFrom = "dlq.replayed_from" // set by Replay, kept through a later dead-lettering
	// HeaderPANMasked is "true" when card numbers were masked in the key,
	// value or headers: the record is then not byte for byte the original.
	HeaderPANMasked = "dlq.pan_masked"
)

// dlqHeaders are the headers Record sets, and replaces when they are
// already there; Replay strips every dlq.* header but the one it adds.
var dlqHeaders = []string{HeaderClass, HeaderMessage, HeaderTopic, HeaderPartition, HeaderOffset, HeaderAttempts, HeaderFailedAt, HeaderPANMasked}

// MaxMessage is the longest dlq.error.message, in bytes.
const MaxMessage = 1024

// failedAtLayout is RFC 3339 with milliseconds; Record uses it in UTC.
const failedAtLayout = "2006-01-02T15:04:05.000Z07:00"

// Record returns the dead-letter message for src: its key, value and
// headers (the same order, the same bytes), followed by the dlq.* headers
// that describe f. Headers of an earlier dead-lettering are replaced, not
// repeated, so a record that fails again after a replay carries one set.
// Topic is left empty for the writer to set.
//
// Card numbers are the exception to "the same bytes": the digits of any in
// the key, the value or a header (see fraud.MaskPANs) are replaced by '*'
// and the dlq.pan_masked header says so, as the DLQ is kept and read by
// people and tools that must never see one. The error message is cut to
// MaxMessage bytes and every run of 13 or more digits in it (spaces and
// dashes between digits included) is masked with '*' as well.
//
// A nil src.Value is written as an empty value, not as null: kafka-go
// reads an empty value as nil too, and a null value would be a tombstone,
// deleting the record's key from a compacted DLQ. A nil key stays nil.
func Record(src kafka.Message, f Failure, now time.Time) kafka.Message {
	var masked bool
	mask := func(b []byte) []byte {
		b, found := fraud.MaskPANs(b)
		masked = masked || found
		return b
	}
	key := mask(src.Key)
	value := mask(src.Value)
	if value == nil {
		value = []byte{}
	}
	headers := make([]kafka.Header, 0, len(src.Headers)+len(dlqHeaders))
	for _, h := range src.Headers {
		if h.Key == HeaderPANMasked {
			// Masked by an earlier dead-lettering: still not the original.
			masked = masked || string(h.Value) == "true"
			continue
		}
		if !slices.Contains(dlqHeaders, h.Key) {
			headers = append(headers, kafka.Header{Key: string(mask([]byte(h.Key))), Value: mask(h.Value)})
		}
	}
	class := f.Class
	if class == "" {
		class = Processing
	}
	var msg string
	if f.Err != nil {
		msg = f.Err.Error()
	}
	headers = append(headers,
		header(HeaderClass, string(class)),
		header(HeaderMessage, truncate(maskPANs(msg), MaxMessage)),
		header(HeaderTopic, src.Topic),
		header(HeaderPartition, strconv.Itoa(src.Partition)),
		header(HeaderOffset, strconv.FormatInt(src.Offset, 10)),
		header(HeaderAttempts, strconv.Itoa(max(f.Attempts, 1))),
		header(HeaderFailedAt, now.UTC().Format(failedAtLayout)),
	)
	if masked {
		headers = append(headers, header(HeaderPANMasked, "true"))
	}
	return kafka.Message{Key: key, Value: value, Headers: headers, Time: now}
}

func header(k, v string) kafka.Header { return kafka.Header{Key: k, Value: []byte(v)} }

// panDigits is the shortest digit run treated as a possible card number.
const panDigits = 13

// maskPANs replaces the digits of every run of at least panDigits digits
// with '*'. A single space or dash between two digits continues a run, as
// in "4111 1111 1111 1111" or "4111-1111-1111-1111".
func maskPANs(s string) string {
	isDigit := func(i int) bool { return i < len(s) && s[i] >= '0' && s[i] <= '9' }
	var b []byte // allocated on the first masked run
	for i := 0; i < len(s); {
		if !isDigit(i) {
			i++
			continue
		}
		start, digits := i, 0
		for i < len(s) {
			if isDigit(i) {
				digits++
				i++
			} else if (s[i] == ' ' || s[i] == '-') && isDigit(i+1) {
				i++
			} else {
				break
			}
		}
		if digits < panDigits {
			continue
		}
		if b == nil {
			b = []byte(s)
		}
		for j := start; j < i; j++ {
			if isDigit(j) {
				b[j] = '*'
			}
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}

// truncate cuts s to at most n bytes on a rune boundary, ending a cut
// string with an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "") + ellipsis
}
