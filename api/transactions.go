package api

import (
	"bufio"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/fraudscore/scorer/fraud"
)

// transaction answers GET /transactions/{transaction_id}: the stored result
// of a transaction scored before (for a payment system's records, and for
// `scorer parity`, which compares it with the batch), or 404.
func (h *Handler) transaction(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "transaction_id")
	if r.URL.RawPath != "" {
		var err error
		if id, err = url.PathUnescape(id); err != nil {
			writeProblem(w, http.StatusBadRequest, "Bad Request", "invalid parameters",
				[]fraud.FieldError{{Field: "transaction_id", Message: "is not a valid path segment"}})
			return
		}
	}
	if msg := fraud.CheckTransactionID(id); msg != "" {
		writeProblem(w, http.StatusBadRequest, "Bad Request", "invalid parameters",
			[]fraud.FieldError{{Field: "transaction_id", Message: msg}})
		return
	}
	_, body, ok, err := h.cfg.Pipeline.Lookup(id)
	if err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "stored result read failed", "transaction_id", id, "err", err)
		w.Header().Set("Retry-After", "1")
		writeProblem(w, http.StatusServiceUnavailable, "Service Unavailable", "the store could not be read", nil)
		return
	}
	if !ok {
		writeProblem(w, http.StatusNotFound, "Not Found", "no stored result for this transaction_id (never scored, or past --dedup-retention)", nil)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// maxCorrectBytes bounds the body of POST /admin/velocity/correct.
const maxCorrectBytes = 1 << 30

// correct answers POST /admin/velocity/correct?from=RFC3339: the body is
// the batch's log of the span (one transaction per line), and the online
// state of every entity in it becomes the log's from `from` on (see
// velocity.Store.Correct). Lines that are not valid transactions are
// counted, not applied.
func (h *Handler) correct(w http.ResponseWriter, r *http.Request) {
	from, err := fraud.ParseTime(r.URL.Query().Get("from"))
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "Bad Request", "invalid parameters",
			[]fraud.FieldError{{Field: "from", Message: "must be an RFC 3339 timestamp"}})
		return
	}
	sc := bufio.NewScanner(http.MaxBytesReader(w, r.Body, maxCorrectBytes))
	sc.Buffer(make([]byte, 64<<10), int(h.cfg.MaxBodyBytes))
	var txs []*fraud.Transaction
	invalid := 0
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		tx, err := fraud.DecodeTransaction(sc.Bytes(), fraud.Limits{})
		if err != nil {
			invalid++
			continue
		}
		txs = append(txs, &tx)
	}
	if err := sc.Err(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeProblem(w, http.StatusRequestEntityTooLarge, "Content Too Large", "the log is over 1 GiB: correct the span in parts", nil)
			return
		}
		writeProblem(w, http.StatusBadRequest, "Bad Request", "the log could not be read: one transaction per line, each under the body limit", nil)
		return
	}
	start := time.Now()
	c, err := h.cfg.Store.Correct(r.Context(), from.UnixNano(), txs)
	if err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "velocity correction failed", "err", err)
		w.Header().Set("Retry-After", "1")
		writeProblem(w, http.StatusServiceUnavailable, "Service Unavailable", "the correction could not be applied; it is idempotent: run it again", nil)
		return
	}
	h.cfg.Logger.InfoContext(r.Context(), "velocity corrected", "from", from, "transactions", len(txs), "invalid", invalid,
		"entities", c.Entities, "added", c.Added, "removed", c.Removed, "took", time.Since(start).String())
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"transactions":` + strconv.Itoa(len(txs)) + `,"invalid":` + strconv.Itoa(invalid) +
		`,"entities":` + strconv.Itoa(c.Entities) + `,"added":` + strconv.Itoa(c.Added) + `,"removed":` + strconv.Itoa(c.Removed) + `}`))
}
