package backfill

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fraudscore/scorer/fraud"
)

// Labels maps transaction ids, as Read returns them (card numbers
// replaced by tokens), to whether the transaction was a fraud.
type Labels map[string]bool

// ReadLabels reads a CSV of transaction_id,is_fraud (a header row is
// optional; is_fraud is 1, 0, true or false; further columns are
// ignored). Each transaction_id goes through fraud.Tokenize, as Read's do,
// so that labels join the transactions they name. When an id is labelled
// twice, the first label counts; dups says how many were ignored. Errors
// name the line but never its values.
func ReadLabels(r io.Reader) (l Labels, dups int, err error) {
	l = Labels{}
	if f, ok := r.(interface{ Stat() (os.FileInfo, error) }); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			// About 35 bytes a line (a 32-character id): room at once
			// rather than a map that copies itself twenty times.
			l = make(Labels, min(st.Size()/35, 1<<26))
		}
	}
	br := bufio.NewReaderSize(r, 1<<20)
	for line := 1; ; line++ {
		b, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return nil, 0, fmt.Errorf("labels line %d: longer than 1 MiB", line)
		}
		if len(b) == 0 && err == io.EOF {
			return l, dups, nil
		}
		if err != nil && err != io.EOF {
			return nil, 0, err
		}
		id, label, ok := parseLabelLine(b)
		switch {
		case !ok && line == 1:
			// a header
		case !ok:
			return nil, 0, fmt.Errorf("labels line %d: want transaction_id,is_fraud with is_fraud 0 or 1", line)
		default:
			if !isASCII(id) || mayHoldPAN([]byte(id)) {
				id = fraud.Tokenize(id)
			}
			if _, have := l[id]; have {
				dups++
			} else {
				l[id] = label
			}
		}
		if err == io.EOF {
			return l, dups, nil
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// parseLabelLine reads one CSV line: the plain form directly, a quoted one
// with encoding/csv.
func parseLabelLine(b []byte) (id string, label, ok bool) {
	b = bytes.TrimRight(b, "\r\n")
	var idb, lab string
	if bytes.IndexByte(b, '"') >= 0 {
		rec, err := csv.NewReader(bytes.NewReader(b)).Read()
		if err != nil || len(rec) < 2 {
			return "", false, false
		}
		idb, lab = rec[0], rec[1]
	} else {
		i := bytes.IndexByte(b, ',')
		if i < 0 {
			return "", false, false
		}
		rest := b[i+1:]
		if j := bytes.IndexByte(rest, ','); j >= 0 {
			rest = rest[:j]
		}
		idb, lab = string(b[:i]), string(rest)
	}
	switch strings.ToLower(strings.TrimSpace(lab)) {
	case "1", "true":
		label = true
	case "0", "false":
	default:
		return "", false, false
	}
	idb = strings.TrimSpace(idb)
	return idb, label, idb != ""
}

// Join sets t.Labels from l and returns how many rows have no label (the
// writers leave them out) and how many labels name no row of t.
func (t *Table) Join(l Labels) (unlabelled, unmatched int) {
	t.Labels = make([]int8, t.Len())
	matched := 0
	for i := range t.Labels {
		v, ok := l[t.Log.id(t.Log.at(i))]
		switch {
		case !ok:
			t.Labels[i] = -1
			unlabelled++
		case v:
			t.Labels[i] = 1
			matched++
		default:
			matched++
		}
	}
	return unlabelled, len(l) - matched
}
