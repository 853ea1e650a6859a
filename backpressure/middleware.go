package backpressure

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Middleware admits or sheds each request before next runs, so a shed
// request costs no body read or decode. budget is the server's scoring
// budget [2s]; a request's deadline is its context's deadline when set, else
// arrival + budget shortened by a positive integer X-Timeout-Ms header, as
// the api package computes it. A request with an invalid X-Timeout-Ms goes
// to next unmetered, for it to reject. The request context is passed on
// unchanged, so a handler that starts its own budget timer (as api's does)
// gets the full budget after up to MaxWait of queueing here.
//
// A shed request gets 503 with Retry-After and an RFC 9457
// application/problem+json body {"type","title","status","detail"}.
func (l *Limiter) Middleware(budget time.Duration) func(http.Handler) http.Handler {
	if budget <= 0 {
		budget = 2 * time.Second
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := l.now()
			deadline, ok := r.Context().Deadline()
			if !ok {
				b := budget
				if v := r.Header.Get("X-Timeout-Ms"); v != "" {
					ms, err := strconv.ParseInt(v, 10, 64)
					if err != nil || ms < 1 {
						next.ServeHTTP(w, r)
						return
					}
					if ms < b.Milliseconds() {
						b = time.Duration(ms) * time.Millisecond
					}
				}
				deadline = start.Add(b)
			}
			t, err := l.acquire(r.Context(), start, deadline)
			if err != nil {
				l.writeShed(w, ShedReason(err))
				return
			}
			sw := &statusWriter{ResponseWriter: w}
			defer func() {
				st := sw.status
				t.release(st == http.StatusServiceUnavailable || st == http.StatusGatewayTimeout ||
					!l.now().Before(deadline))
			}()
			// The budget counts from arrival, not from admission: time
			// spent queued here is taken out of what the handler gets.
			ctx, cancel := context.WithDeadline(r.Context(), deadline)
			defer cancel()
			next.ServeHTTP(sw, r.WithContext(ctx))
		})
	}
}

// writeShed answers 503. reason is "" when the client went away while
// queued; it gets the generic body, in case anyone still listens.
func (l *Limiter) writeShed(w http.ResponseWriter, reason string) {
	body := l.bodies[reason]
	h := w.Header()
	h.Set("Retry-After", l.retryAfter)
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write(body)
}

// problem mirrors api.Problem without its field errors; the type URI is the
// one api uses for 503.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func shedBodies() map[string][]byte {
	m := make(map[string][]byte, 4)
	for reason, detail := range map[string]string{
		ReasonLimit:     "the service is at capacity; retry later",
		ReasonQueueFull: "the service is at capacity and its queue is full; retry later",
		ReasonBudget:    "the request cannot be served within its remaining time budget; retry later",
		"":              "the request was not admitted; retry later",
	} {
		m[reason], _ = json.Marshal(problem{
			Type:   "urn:fraudscore:problem:service-unavailable",
			Title:  "Service Unavailable",
			Status: http.StatusServiceUnavailable,
			Detail: detail,
		})
	}
	return m
}

func retryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}

// statusWriter records the status the handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
