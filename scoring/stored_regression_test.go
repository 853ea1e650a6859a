package scoring

import (
	"fmt"
	"testing"

	"github.com/fraudscore/scorer/fraud"
)

// appendStored writes every reason but decodeStored reads at most 64, so a
// result with more (a rules file with many matching rules) is stored fine
// and every duplicate of it then fails: 503 on HTTP, DLQ on Kafka.
func TestStoredResultWithManyReasonsRoundTrips(t *testing.T) {
	r := fraud.Result{TransactionID: "t", Score: 0.9, Decision: fraud.Decline,
		Features: fraud.Features{{Name: "a", Value: 1}}, ModelVersion: "m"}
	for i := range 65 {
		r.Reasons = append(r.Reasons, fraud.Reason{Code: fmt.Sprintf("R%d", i), Message: "m"})
	}
	names := func(uint64) ([]string, bool) { return []string{"a"}, true }
	if _, err := decodeStored(appendStored(nil, &r, 1), "t", names); err != nil {
		t.Fatalf("a stored result with 65 reasons does not decode: %v", err)
	}
}
