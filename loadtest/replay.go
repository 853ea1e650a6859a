package loadtest

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/fraudscore/scorer/fraud"
)

// Replay is a Source that reads a JSONL transaction log (one transaction a
// line, in the service's schema, e.g. the Sparkov sample). Event times are
// shifted by one offset so that the log's last event is now, which keeps
// every gap between events; transaction ids get the run id as a prefix, so
// that repeated runs are not duplicates of each other; identifiers that
// are raw card numbers (the Sparkov data's card ids are) are replaced by
// tokens (fraud.Tokenize), as the service refuses them. The run ends when
// the log does.
type Replay struct {
	f      *os.File
	sc     *bufio.Scanner
	shift  time.Duration
	runID  string
	labels map[string]bool
	line   int
	err    error
}

// OpenReplay opens path for replay. labels, when not nil, maps the log's
// original transaction ids to their fraud label (see ReadLabels). now is the
// clock used to align the last event; time.Now when nil.
func OpenReplay(path, runID string, labels map[string]bool, now func() time.Time) (*Replay, error) {
	if now == nil {
		now = time.Now
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	// First pass: the latest event time.
	var last time.Time
	sc := newScanner(f)
	n := 0
	for sc.Scan() {
		n++
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var t struct {
			EventTime time.Time `json:"event_time"`
		}
		if err := json.Unmarshal(sc.Bytes(), &t); err != nil {
			f.Close()
			return nil, fmt.Errorf("replay %s line %d: %w", path, n, err)
		}
		if t.EventTime.After(last) {
			last = t.EventTime
		}
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, fmt.Errorf("replay %s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return &Replay{f: f, sc: newScanner(f), shift: now().Sub(last), runID: runID, labels: labels}, nil
}

func newScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	return sc
}

// Next returns the next transaction of the log; false at its end or on a
// malformed line (see Err).
func (r *Replay) Next() (Event, bool) {
	for r.err == nil && r.sc.Scan() {
		r.line++
		b := r.sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var tx fraud.Transaction
		if err := json.Unmarshal(b, &tx); err != nil {
			r.err = fmt.Errorf("replay line %d: %w", r.line, err)
			return Event{}, false
		}
		ev := Event{Fraud: r.labels[tx.ID]}
		if ev.Fraud {
			ev.Scenario = "labelled"
		}
		// A letter after the run id, so that its digits and the log's id
		// never join into one long run of digits (a card number, to the
		// service); card numbers in the log itself become tokens.
		// The composed id is no digest any more, so a digest id whose
		// inner digits pass for a card number becomes a token too.
		if tx.ID = r.runID + "-r" + tx.ID; fraud.IDLooksLikePAN(tx.ID) {
			tx.ID = r.runID + "-r" + fraud.Tokenize(tx.ID[len(r.runID)+2:])
		}
		tx.CardID = fraud.Tokenize(tx.CardID)
		tx.EventTime = tx.EventTime.Add(r.shift).UTC()
		ev.Tx = tx
		return ev, true
	}
	if r.err == nil {
		r.err = r.sc.Err()
	}
	return Event{}, false
}

// Err is the error that ended the replay early, if any.
func (r *Replay) Err() error { return r.err }

// Close closes the log.
func (r *Replay) Close() error { return r.f.Close() }

// ReadLabels reads a CSV of transaction_id,is_fraud (header optional;
// is_fraud 1/true means fraud).
func ReadLabels(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	labels := map[string]bool{}
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return labels, nil
		}
		if err != nil {
			return nil, fmt.Errorf("labels %s: %w", path, err)
		}
		if len(rec) < 2 {
			return nil, fmt.Errorf("labels %s line %d: want transaction_id,is_fraud", path, line)
		}
		switch v := strings.TrimSpace(strings.ToLower(rec[1])); v {
		case "1", "true", "yes":
			labels[strings.TrimSpace(rec[0])] = true
		case "0", "false", "no":
			labels[strings.TrimSpace(rec[0])] = false
		default:
			if line == 1 {
				continue // header
			}
			return nil, fmt.Errorf("labels %s line %d: is_fraud %q is not 0 or 1", path, line, rec[1])
		}
	}
}
