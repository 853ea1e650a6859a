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
