package backpressure

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Middleware admits or sheds each request before next runs, so a shed
// request costs no body read or decode; it is for handlers that read
// nothing before their work (the scoring API calls Precheck and Acquire
// itself, around its body read). A request's deadline is its context's,
// set once upstream (the api package sets it at arrival from the budget
// and X-Timeout-Ms); without one, arrival + budget [2s]. Time spent queued
// here comes out of that deadline, which the handler's context carries.
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
			ctx := r.Context()
			deadline, ok := ctx.Deadline()
			if !ok {
				deadline = start.Add(budget)
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, deadline)
				defer cancel()
			}
			t, err := l.acquire(ctx, start, deadline)
			if err != nil {
				l.WriteShed(w, err)
				return
			}
			sw := &statusWriter{ResponseWriter: w}
			defer func() {
				st := sw.status
				t.release(st == http.StatusServiceUnavailable || st == http.StatusGatewayTimeout ||
					!l.now().Before(deadline))
			}()
			next.ServeHTTP(sw, r.WithContext(ctx))
		})
	}
}

// Precheck sheds at once, without taking a slot, a request that would be
// shed if it asked for one now: too little of its budget (ctx's deadline)
// is left, or the wait queue is full. It lets a handler refuse work before
// reading a body, so that a shed costs as little as possible, and then read
// the body without holding a slot (a slow client must not hold capacity),
// before it Acquires. It returns nil, or an error wrapping ErrShed.
func (l *Limiter) Precheck(ctx context.Context) error {
	now := l.now()
	if deadline, ok := ctx.Deadline(); ok && deadline.Sub(now) < l.o.MinBudget {
		return l.shed(errShedBudget)
	}
	l.mu.Lock()
	full := l.inFlight >= l.limit && (l.queued >= l.maxQueueLocked(l.standingLocked(now)) || l.o.MaxWait < 0)
	l.mu.Unlock()
	if full {
		l.pressure.Add(1)
		return l.shed(errShedQueueFull)
	}
	return nil
}

// WriteShed answers 503 for err, an error from Precheck or Acquire: a
// problem+json body saying why, with Retry-After.
func (l *Limiter) WriteShed(w http.ResponseWriter, err error) { l.writeShed(w, ShedReason(err)) }

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
