package train

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// timedTable has n rows whose event times are drawn from only a few
// seconds (so many tie), in random order; feature "i" holds each row's
// original index, to check that rows move whole.
func timedTable(n, distinctTimes int, seed uint64) *Table {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	t := &Table{Names: []string{"i"}, Columns: [][]float64{make([]float64, n)}, Labels: make([]bool, n)}
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for i := range n {
		t.TransactionID = append(t.TransactionID, fmt.Sprint("tx", i))
		t.CardID = append(t.CardID, fmt.Sprint("card", i%7))
		t.EventTime = append(t.EventTime, base+int64(rng.IntN(distinctTimes))*int64(time.Second))
		t.Columns[0][i] = float64(i)
		t.Labels[i] = i%3 == 0
	}
	return t
}

// checkSplit checks that train and valid partition t, whole rows, each
// ordered by time.
func checkSplit(t *testing.T, all, train, valid *Table) {
	t.Helper()
	if train.Len()+valid.Len() != all.Len() {
		t.Fatalf("%d + %d rows of %d", train.Len(), valid.Len(), all.Len())
	}
	seen := make([]bool, all.Len())
	for _, part := range []*Table{train, valid} {
		if err := part.Validate(); err != nil {
			t.Fatal(err)
		}
		if !slices.IsSorted(part.EventTime) {
			t.Error("a split is not in time order")
		}
		for j := range part.Len() {
			i := int(part.Columns[0][j])
			if seen[i] {
				t.Fatalf("row %d twice", i)
			}
			seen[i] = true
			if part.TransactionID[j] != all.TransactionID[i] || part.EventTime[j] != all.EventTime[i] || part.Labels[j] != all.Labels[i] || part.CardID[j] != all.CardID[i] {
				t.Fatalf("row %d did not move whole", i)
			}
		}
	}
}

func TestSplitByTime(t *testing.T) {
	for _, tc := range []struct {
		name          string
		n, times      int
		share         float64
		wantValid     int // -1: at least ceil(share*n)
		wantTrainZero bool
	}{
		{"distinct times: exactly the share", 1000, 1 << 30, 0.2, 200, false},
		{"heavy ties: at least the share", 1000, 10, 0.2, -1, false},
		{"a fractional count rounds up", 10, 1 << 30, 0.25, 3, false},
		{"share 0: all train", 100, 5, 0, 0, false},
		{"share 1: all valid", 100, 5, 1, 100, true},
		{"one instant: all valid", 50, 1, 0.1, 50, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			all := timedTable(tc.n, tc.times, uint64(tc.n+tc.times))
			tr, va := SplitByTime(all, tc.share)
			checkSplit(t, all, tr, va)
			if tr.Len() > 0 && va.Len() > 0 && tr.EventTime[tr.Len()-1] >= va.EventTime[0] {
				t.Errorf("last train row at %d is not before first valid row at %d", tr.EventTime[tr.Len()-1], va.EventTime[0])
			}
			switch {
			case tc.wantValid >= 0 && va.Len() != tc.wantValid:
				t.Errorf("%d valid rows, want %d", va.Len(), tc.wantValid)
			case tc.wantValid < 0 && va.Len() < int(tc.share*float64(tc.n)):
				t.Errorf("%d valid rows, fewer than the share", va.Len())
			}
			if tc.wantTrainZero != (tr.Len() == 0) {
				t.Errorf("%d train rows", tr.Len())
			}
		})
	}
	t.Run("a share out of [0, 1] panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("no panic")
			}
		}()
		SplitByTime(timedTable(3, 3, 1), 1.5)
	})
}

func TestSplitAt(t *testing.T) {
	all := timedTable(500, 20, 7)
	at := time.Unix(0, all.EventTime[0]) // a time some rows have exactly
	tr, va := SplitAt(all, at)
	checkSplit(t, all, tr, va)
	t.Run("train before the instant, valid at or after it", func(t *testing.T) {
		for _, e := range tr.EventTime {
			if e >= at.UnixNano() {
				t.Fatal("a train row at or after the instant")
			}
		}
		for _, e := range va.EventTime {
			if e < at.UnixNano() {
				t.Fatal("a valid row before the instant")
			}
		}
		if va.EventTime[0] != at.UnixNano() {
			t.Error("rows at the instant are not in valid")
		}
	})
}
