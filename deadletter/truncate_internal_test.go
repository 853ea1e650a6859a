package deadletter

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestTruncatedCopyDescribesTheSource: the size and hash of a truncated
// copy are the source record's, even when the copy was masked first, so
// that an operator can match them with the record at the source offset;
// and the last-resort copy has an empty value, not a null (a tombstone).
func TestTruncatedCopyDescribesTheSource(t *testing.T) {
	// A large record with a card number spelled in JSON escapes.
	val := append([]byte(`{"card_id":"\u0034\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031","pad":"`), bytes.Repeat([]byte("x"), 100<<10)...)
	val = append(val, `"}`...)
	src := kafka.Message{Topic: "transactions", Value: val}
	w := &Writer{}
	m := Record(src, Failure{Class: Validation}, time.Now())
	sum := sha256.Sum256(src.Value)
	for _, bare := range []bool{false, true} {
		tc := w.truncatedCopy(m, src.Value, bare)
		if got := header0(tc, HeaderOriginalSize); got != strconv.Itoa(len(src.Value)) {
			t.Errorf("bare %v: dlq.original.size = %s, the source value has %d bytes", bare, got, len(src.Value))
		}
		if got := header0(tc, HeaderOriginalSHA256); got != hex.EncodeToString(sum[:]) {
			t.Errorf("bare %v: dlq.original.sha256 is not the source value's", bare)
		}
		if tc.Value == nil {
			t.Errorf("bare %v: the copy's value is nil, which kafka-go writes as a null", bare)
		}
	}
}
