package backfill

import (
	"bufio"
	"encoding/csv"
	"io"
	"strconv"

	"github.com/fraudscore/scorer/fraud"
)

// csvTime is event_time in CSV output: RFC 3339 in UTC with all nine
// fraction digits, so that the text sorts as the times do.
const csvTime = "2006-01-02T15:04:05.000000000Z07:00"

// WriteCSV writes t to w as CSV with a header row: transaction_id,
// card_id, event_time (RFC 3339, UTC, nanoseconds), each feature by name
// (the shortest decimal that reads back as the same float64) and label
// when t has labels, leaving out rows without one. It returns how many
// rows it wrote.
func WriteCSV(w io.Writer, t *Table) (int, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	cw := csv.NewWriter(bw)
	header := append([]string{"transaction_id", "card_id", "event_time"}, t.Set.Names()...)
	if t.Labels != nil {
		header = append(header, "label")
	}
	if err := cw.Write(header); err != nil {
		return 0, err
	}
	rec := make([]string, len(header))
	n := 0
	var tx fraud.Transaction
	for i := range t.Len() {
		if t.Labels != nil && t.Labels[i] < 0 {
			continue
		}
		t.Log.tx(i, &tx)
		rec[0], rec[1] = tx.ID, tx.CardID
		rec[2] = tx.EventTime.UTC().Format(csvTime)
		for k, v := range t.Row(i) {
			rec[3+k] = strconv.FormatFloat(v, 'g', -1, 64)
		}
		if t.Labels != nil {
			rec[len(rec)-1] = strconv.Itoa(int(t.Labels[i]))
		}
		if err := cw.Write(rec); err != nil {
			return n, err
		}
		n++
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return n, err
	}
	return n, bw.Flush()
}
