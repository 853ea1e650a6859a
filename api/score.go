package api

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/scoring"
	"github.com/fraudscore/scorer/velocity"
)

// Admission is admission control for POST /score (backpressure.Limiter).
// Precheck sheds before the body is read, at the cost of a 503 alone;
// Acquire takes a slot for the scoring, once the body is in. Both return an
// error to be answered with WriteShed, or nil; release must be called once
// when the scoring is done (dropped: it failed or ran out of time).
type Admission interface {
	Precheck(ctx context.Context) error
	Acquire(ctx context.Context) (release func(dropped bool), err error)
	WriteShed(w http.ResponseWriter, err error)
}

// MinTimeout is the smallest X-Timeout-Ms served. A budget shorter than
// this leaves no time to score (admission sheds what has under 5 ms left),
// so it is refused as a client error rather than answered 503 on every
// retry.
const MinTimeout = 10 * time.Millisecond

// bodyReserve is the part of the budget kept for scoring: the body must be
// in by the deadline minus this, else the request times out (408) without
// any state being touched.
const bodyReserve = 5 * time.Millisecond

// deadline sets the request's deadline once, on arrival (when its headers
// are in): the server budget, shortened by X-Timeout-Ms. Everything after
// (the body read, admission, the model, the answer) reads it from the
// context; nothing is answered after it.
func (h *Handler) deadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrival := h.cfg.Now()
		budget := h.cfg.Budget
		if v := r.Header.Get("X-Timeout-Ms"); v != "" {
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil || ms < MinTimeout.Milliseconds() {
				writeProblem(w, http.StatusBadRequest, "Bad Request", "invalid header",
					[]fraud.FieldError{{Field: "X-Timeout-Ms", Message: "must be an integer number of milliseconds, at least " +
						strconv.FormatInt(MinTimeout.Milliseconds(), 10)}})
				return
			}
			if ms < budget.Milliseconds() {
				budget = time.Duration(ms) * time.Millisecond
			}
		}
		ctx, cancel := context.WithDeadline(r.Context(), arrival.Add(budget))
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (h *Handler) score(w http.ResponseWriter, r *http.Request) {
	ctx := scoring.WithSource(r.Context(), "http")
	deadline, _ := ctx.Deadline()
	adm := h.cfg.Admission
	if adm != nil {
		if err := adm.Precheck(ctx); err != nil {
			shedBeforeBody(w, r, adm, err)
			return
		}
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		writeProblem(w, http.StatusUnsupportedMediaType, "Unsupported Media Type", "the body must be application/json", nil)
		return
	}
	buf := h.bufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 1<<20 {
			buf.Reset()
			h.bufs.Put(buf)
		}
	}()
	buf.Reset()
	if !h.readBody(w, r, buf, deadline) {
		return
	}
	tx, err := fraud.DecodeTransaction(buf.Bytes(), fraud.Limits{Now: h.cfg.Now(), MaxFutureSkew: h.cfg.MaxFutureSkew, MaxEventAge: h.cfg.MaxEventAge})
	if err != nil {
		var ve *fraud.ValidationError
		if errors.As(err, &ve) {
			writeProblem(w, http.StatusBadRequest, "Invalid transaction", "one or more fields are invalid", ve.Errors)
			return
		}
		writeProblem(w, http.StatusBadRequest, "Bad Request", "the body could not be decoded", nil)
		return
	}
	var release func(dropped bool)
	if adm != nil {
		if release, err = adm.Acquire(ctx); err != nil {
			adm.WriteShed(w, err)
			return
		}
	}
	h.scoreWithin(ctx, w, &tx, release)
}

// shedBeforeBody answers a shed from the headers alone. net/http reads
// (and discards) an unread body before it writes any answer, so a shed
// would wait for the client's upload; in full duplex the answer goes out
// at once. The body is then closed, briefly allowed to arrive so that the
// connection can be reused: closing it is also what keeps net/http from
// panicking on the next request of a full-duplex connection
// (golang/go#68560).
func shedBeforeBody(w http.ResponseWriter, r *http.Request, adm Admission, err error) {
	rc := http.NewResponseController(w)
	_ = rc.EnableFullDuplex()
	adm.WriteShed(w, err)
	_ = rc.Flush()
	_ = rc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	r.Body.Close()
}

// readBody reads the body into buf, bounded in size and in time: it must be
// in by the deadline less bodyReserve. No admission slot is held meanwhile,
// so a slow client holds nothing but its connection. It answers the
// client and reports false when the body could not be read.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer, deadline time.Time) bool {
	rc := http.NewResponseController(w)
	// Not supported by every ResponseWriter (httptest's recorder); the
	// server's ReadTimeout still bounds the read there.
	_ = rc.SetReadDeadline(deadline.Add(-bodyReserve))
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	_ = rc.SetReadDeadline(time.Time{})
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &tooBig):
		writeProblem(w, http.StatusRequestEntityTooLarge, "Content Too Large",
			"the body is over "+strconv.FormatInt(h.cfg.MaxBodyBytes, 10)+" bytes", nil)
	case errors.As(err, &ne) && ne.Timeout():
		w.Header().Set("Connection", "close")
		writeProblem(w, http.StatusRequestTimeout, "Request Timeout",
			"the body did not arrive within the request's time budget; nothing was scored", nil)
	default:
		writeProblem(w, http.StatusBadRequest, "Bad Request", "the body could not be read", nil)
	}
	return false
}

// scored is the outcome of a scoring, handed from the scoring goroutine.
type scored struct {
	body []byte
	err  error
}

// scoreWithin scores tx and answers, never after ctx's deadline: the
// scoring runs on its own goroutine, and if it is not done by the
// deadline (a commit held up in Badger, say) the client gets 503 at the
// deadline while the scoring finishes in the background. Its result is
// then stored, and a retry with the same transaction_id gets it. A client
// that goes away gets no answer, and its scoring ends all the same.
//
// release, when not nil, is the admission slot: the scoring goroutine
// returns it when the work ends, not when the answer goes out, so that
// scorings outliving their answer (past the deadline, or after a client
// hung up) still count against the limit. It reports congestion (dropped)
// only when the scoring ran past its deadline: a client's mistake, a
// conflict or a full disk says nothing about concurrency.
func (h *Handler) scoreWithin(ctx context.Context, w http.ResponseWriter, tx *fraud.Transaction, release func(dropped bool)) {
	deadline := deadlineOf(ctx)
	done := make(chan scored, 1)
	h.scoring.Add(1)
	go func() {
		defer h.scoring.Done()
		// The scoring keeps ctx's deadline (the model honours it) but not
		// its cancellation when the client goes away: once begun, it ends.
		sctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
		defer cancel()
		_, body, err := h.cfg.Pipeline.Score(sctx, tx)
		if release != nil {
			release(time.Now().After(deadline))
		}
		done <- scored{body, err}
	}()
	var out scored
	select {
	case out = <-done:
	case <-ctx.Done():
		if ctx.Err() == context.DeadlineExceeded {
			w.Header().Set("Retry-After", "1")
			writeProblem(w, http.StatusServiceUnavailable, "Service Unavailable",
				"the transaction could not be scored within its time budget; retry with the same transaction_id", nil)
		}
		return
	}
	if out.err != nil {
		h.scoreFailed(ctx, w, tx, out.err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out.body)))
	w.Write(out.body)
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// scoreFailed answers a scoring error: a conflict is the client's (422),
// everything else is transient and safe to retry (503).
func (h *Handler) scoreFailed(ctx context.Context, w http.ResponseWriter, tx *fraud.Transaction, err error) {
	var ce *velocity.ConflictError
	if errors.As(err, &ce) {
		errs := make([]fraud.FieldError, len(ce.Fields))
		for i, f := range ce.Fields {
			errs[i] = fraud.FieldError{Field: f, Message: "differs from the transaction already scored with this transaction_id"}
		}
		writeProblemType(w, http.StatusUnprocessableEntity, ProblemIdempotencyConflict, "Transaction ID Reused",
			"this transaction_id was already scored with different fields; a retry must repeat the same body, and a new transaction needs a new transaction_id", errs)
		return
	}
	if errors.Is(err, scoring.ErrNotWritable) {
		w.Header().Set("Retry-After", "5")
		writeProblemType(w, http.StatusServiceUnavailable, ProblemInsufficientStorage, "Service Unavailable",
			"the service is refusing new work because its disk is nearly full, and resumes by itself when space is freed; nothing was scored; retry later with the same transaction_id", nil)
		return
	}
	// Only the store failing, or the budget ending while an identical
	// request is in progress, land here. Neither is the client's fault
	// and a retry is safe: the transaction_id makes it idempotent.
	if ctx.Err() == nil {
		h.cfg.Logger.ErrorContext(ctx, "scoring failed", "transaction_id", tx.ID, "card_id", tx.CardID, "err", err)
	}
	w.Header().Set("Retry-After", "1")
	writeProblem(w, http.StatusServiceUnavailable, "Service Unavailable", "the transaction could not be scored now; retry with the same transaction_id", nil)
}

// Wait waits for scorings that outlived their answer (see scoreWithin).
// Call it after the server has shut down and before the store closes.
func (h *Handler) Wait() { h.scoring.Wait() }
