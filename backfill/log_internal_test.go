package backfill

import (
	"fmt"
	"testing"
	"time"

	"github.com/fraudscore/scorer/fraud"
)

func TestAppendAfterReadStillKnowsTheIDs(t *testing.T) {
	l := NewLog()
	tx := fraud.Transaction{ID: "a", CardID: "c", Currency: "USD", EventTime: time.Unix(0, 0).UTC()}
	l.Append(&tx)
	l.doneAdding()
	if l.Append(&tx) {
		t.Error("a repeated id was added after doneAdding")
	}
	tx.ID = "b"
	if !l.Append(&tx) || l.Len() != 2 {
		t.Errorf("a new id was not added (%d rows)", l.Len())
	}
}

func TestLogAcrossChunks(t *testing.T) {
	l := NewLog()
	n := rowChunk + 5
	for i := range n {
		tx := fraud.Transaction{ID: fmt.Sprintf("transaction-%07d", i), CardID: fmt.Sprintf("c%d", i%1000),
			Currency: "USD", Amount: int64(i), EventTime: time.Unix(int64(i), 0).UTC()}
		if !l.Append(&tx) {
			t.Fatalf("row %d not added", i)
		}
	}
	for _, i := range []int{0, 255, 256, 4095, 4096, rowChunk - 1, rowChunk, n - 1} {
		tx := l.Tx(i)
		if tx.ID != fmt.Sprintf("transaction-%07d", i) || tx.Amount != int64(i) || tx.CardID != fmt.Sprintf("c%d", i%1000) {
			t.Errorf("row %d = %+v", i, tx)
		}
	}
	if len(l.rows) != 2 || cap(l.rows[0]) != rowChunk {
		t.Errorf("%d chunks, the first of capacity %d; want 2, of %d", len(l.rows), cap(l.rows[0]), rowChunk)
	}
}

func TestDedupeKeepsTheFirstOfEachID(t *testing.T) {
	// More than a chunk, so that removing rows moves some across chunks.
	n := rowChunk + 5
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("id-%07d", i)
	}
	// Repeats: of the first row at a chunk's end, of a late row near the
	// start, and twice of one near the end.
	ids[rowChunk-1] = ids[0]
	ids[3] = ids[rowChunk+2] // comes first at 3: the one at rowChunk+2 is the repeat
	ids[n-1], ids[n-2] = ids[7], ids[7]
	l := NewLog()
	for i, id := range ids {
		r := row{amount: int64(i)}
		l.pushUnchecked(&r, []byte(id))
	}
	if removed := l.dedupe(); removed != 4 {
		t.Fatalf("dedupe removed %d, want 4", removed)
	}
	if l.Len() != n-4 {
		t.Fatalf("%d rows, want %d", l.Len(), n-4)
	}
	seen := map[string]bool{}
	last := int64(-1)
	for i := range l.Len() {
		tx := l.Tx(i)
		if seen[tx.ID] {
			t.Fatalf("row %d repeats %s", i, tx.ID)
		}
		seen[tx.ID] = true
		if tx.Amount <= last {
			t.Fatalf("row %d (amount %d) out of order after %d", i, tx.Amount, last)
		}
		last = tx.Amount
	}
	if tx := l.Tx(3); tx.Amount != 3 {
		t.Errorf("the first of the repeated id is row %d, want 3", tx.Amount)
	}
	if got, want := fmt.Sprint(l.Repeated()), fmt.Sprint([]string{ids[0], ids[3], ids[7]}); got != want {
		t.Errorf("Repeated() = %s, want %s, each once", got, want)
	}
	if l.Append(&fraud.Transaction{ID: ids[7], Currency: "USD"}) {
		t.Error("Append after dedupe took a repeated id")
	}
}
