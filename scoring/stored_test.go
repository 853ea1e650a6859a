package scoring

import (
	"fmt"
	"testing"

	"github.com/fraudscore/scorer/fraud"
)

func TestStoredResultRoundTrips(t *testing.T) {
	names := []string{"a", "b", "c", "d"}
	lookup := func(id uint64) ([]string, bool) { return names, id == 42 }
	tests := []fraud.Result{
		{TransactionID: "t1", Score: 0.0123, Decision: fraud.Approve, Reasons: []fraud.Reason{},
			Features: fraud.Features{{Name: "a", Value: 1}, {Name: "b", Value: -1}, {Name: "c", Value: 0.5}, {Name: "d", Value: 1e12}}, ModelVersion: "m1"},
		{TransactionID: "t2", Score: 0.97, Decision: fraud.Decline, Degraded: true, Late: true, AlertID: fraud.AlertID("t2"),
			Reasons:  []fraud.Reason{{Code: "HIGH_AMOUNT", Message: "big"}, {Code: "X", Message: "é \" \n"}},
			Features: fraud.Features{{Name: "a", Value: 0}, {Name: "b", Value: 3600.25}, {Name: "c", Value: -0.001}, {Name: "d", Value: 9007199254740993}}, ModelVersion: "rules-1"},
	}
	for _, want := range tests {
		got, err := decodeStored(appendStored(nil, &want, 42), want.TransactionID, lookup)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("round trip = %+v, want %+v", got, want)
		}
	}
	b := appendStored(nil, &tests[0], 7)
	if _, err := decodeStored(b, "t1", lookup); err == nil {
		t.Error("an unknown feature set was accepted")
	}
	for i := range len(b) - 1 {
		if _, err := decodeStored(b[:i], "t1", lookup); err == nil {
			t.Errorf("a record truncated to %d bytes was accepted", i)
		}
	}
}
