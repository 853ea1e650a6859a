// Package api serves the scorer's HTTP API on a chi router: POST /score,
// GET /cards/{card_id}/velocity, health, readiness and the OpenAPI document.
package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/scoring"
	"github.com/fraudscore/scorer/velocity"
)

// Check reports whether one dependency is usable; nil means ready and
// ErrDisabled means not configured (reported, and not a reason to be
// unready).
type Check func(ctx context.Context) error

// ErrDisabled is returned by a Check whose dependency is switched off.
var ErrDisabled = errors.New("disabled")

// Config is what the handler needs. Zero values take the defaults in
// brackets.
type Config struct {
	Pipeline *scoring.Pipeline
	Store    *velocity.Store
	// Budget is the longest a scoring may take [2s]; X-Timeout-Ms can only
	// shorten it.
	Budget time.Duration
	// MaxBodyBytes bounds a request body [64 KiB].
	MaxBodyBytes int64
	// MaxFutureSkew is how far ahead of Now an event_time may be [5m].
	MaxFutureSkew time.Duration
	// Ready lists the readiness checks by name ("store", "kafka").
	Ready map[string]Check
	// Now is the server clock [time.Now].
	Now    func() time.Time
	Logger *slog.Logger

	// Tokens, when set, are the bearer tokens required on /score and
	// /cards/*; health, readiness, metrics and the spec stay open.
	Tokens *Tokens
	// Admission, when set, wraps POST /score (after auth, before the body
	// is read): admission control that may shed the request.
	Admission func(http.Handler) http.Handler
	// Instrument, when set, wraps the whole router (tracing and HTTP
	// metrics); spans are renamed to "METHOD /route" once chi has routed.
	Instrument func(http.Handler) http.Handler
	// Metrics, when set, is served at GET /metrics.
	Metrics http.Handler
}

// Handler is the HTTP API.
type Handler struct {
	cfg     Config
	router  chi.Router
	handler http.Handler
	bufs    sync.Pool
}

// New returns the API handler.
func New(cfg Config) *Handler {
	if cfg.Budget <= 0 {
		cfg.Budget = 2 * time.Second
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.MaxFutureSkew <= 0 {
		cfg.MaxFutureSkew = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Handler{cfg: cfg}
	h.bufs.New = func() any { return new(bytes.Buffer) }
	r := chi.NewRouter()
	r.Use(h.recoverer)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "Not Found", "no such route", nil)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusMethodNotAllowed, "Method Not Allowed", r.Method+" is not allowed here", nil)
	})
	r.Group(func(r chi.Router) {
		r.Use(nameSpan)
		r.Group(func(r chi.Router) {
			if cfg.Tokens != nil {
				r.Use(RequireBearer(cfg.Tokens))
			}
			score := http.Handler(http.HandlerFunc(h.score))
			if cfg.Admission != nil {
				score = cfg.Admission(score)
			}
			r.Method(http.MethodPost, "/score", score)
			r.Get("/cards/{card_id}/velocity", h.velocity)
		})
		r.Get("/healthz", h.healthz)
		r.Get("/readyz", h.readyz)
		r.Get("/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/yaml")
			w.Write(specYAML)
		})
		if cfg.Metrics != nil {
			r.Method(http.MethodGet, "/metrics", cfg.Metrics)
		}
	})
	h.router = r
	h.handler = r
	if cfg.Instrument != nil {
		h.handler = cfg.Instrument(r)
	}
	return h
}

// Router exposes the chi router so that later layers (auth, metrics,
// admission control) can mount on it.
func (h *Handler) Router() chi.Router { return h.router }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.handler.ServeHTTP(w, r) }

// nameSpan names the request's span after the matched route ("POST
// /score") once chi has routed, so traces group by route, not by URL.
func nameSpan(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
			if rc := chi.RouteContext(r.Context()); rc != nil {
				route := rc.RoutePattern()
				span.SetName(r.Method + " " + route)
				span.SetAttributes(attribute.String("http.route", route))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// NewServer returns an http.Server with safe timeouts for h: slow clients
// are cut off and no connection lives forever.
func NewServer(addr string, h http.Handler, budget time.Duration) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      budget + 10*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

func (h *Handler) score(w http.ResponseWriter, r *http.Request) {
	budget := h.cfg.Budget
	if v := r.Header.Get("X-Timeout-Ms"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 1 {
			writeProblem(w, http.StatusBadRequest, "Bad Request", "invalid header",
				[]fraud.FieldError{{Field: "X-Timeout-Ms", Message: "must be a positive integer of milliseconds"}})
			return
		}
		if ms < budget.Milliseconds() {
			budget = time.Duration(ms) * time.Millisecond
		}
	}
	ctx, cancel := context.WithTimeout(scoring.WithSource(r.Context(), "http"), budget)
	defer cancel()

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
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeProblem(w, http.StatusRequestEntityTooLarge, "Content Too Large",
				"the body is over "+strconv.FormatInt(h.cfg.MaxBodyBytes, 10)+" bytes", nil)
			return
		}
		writeProblem(w, http.StatusBadRequest, "Bad Request", "the body could not be read", nil)
		return
	}
	tx, err := fraud.DecodeTransaction(buf.Bytes(), fraud.Limits{Now: h.cfg.Now(), MaxFutureSkew: h.cfg.MaxFutureSkew})
	if err != nil {
		var ve *fraud.ValidationError
		if errors.As(err, &ve) {
			writeProblem(w, http.StatusBadRequest, "Invalid transaction", "one or more fields are invalid", ve.Errors)
			return
		}
		writeProblem(w, http.StatusBadRequest, "Bad Request", "the body could not be decoded", nil)
		return
	}
	_, body, err := h.cfg.Pipeline.Score(ctx, &tx)
	if err != nil {
		// Only the store failing, or the budget ending while an identical
		// request is in progress, land here. Neither is the client's fault
		// and a retry is safe: the transaction_id makes it idempotent.
		if ctx.Err() == nil {
			h.cfg.Logger.ErrorContext(ctx, "scoring failed", "transaction_id", tx.ID, "card_id", tx.CardID, "err", err)
		}
		w.Header().Set("Retry-After", "1")
		writeProblem(w, http.StatusServiceUnavailable, "Service Unavailable", "the transaction could not be scored now; retry with the same transaction_id", nil)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

func isJSON(ct string) bool {
	if ct == "" {
		return false
	}
	mt := ct
	for i := 0; i < len(ct); i++ {
		if ct[i] == ';' {
			mt = ct[:i]
			break
		}
	}
	mt = string(bytes.ToLower(bytes.TrimSpace([]byte(mt))))
	return mt == "application/json" || (len(mt) > 5 && mt[len(mt)-5:] == "+json")
}

func (h *Handler) velocity(w http.ResponseWriter, r *http.Request) {
	var errs []fraud.FieldError
	card, err := url.PathUnescape(chi.URLParam(r, "card_id"))
	if err != nil {
		errs = append(errs, fraud.FieldError{Field: "card_id", Message: "is not a valid path segment"})
	}
	if msg := fraud.CheckCardID(card); err == nil && msg != "" {
		errs = append(errs, fraud.FieldError{Field: "card_id", Message: msg})
	}
	at := h.cfg.Now().UTC()
	if v := r.URL.Query().Get("at"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			errs = append(errs, fraud.FieldError{Field: "at", Message: "must be an RFC 3339 timestamp"})
		} else {
			at = t.UTC()
		}
	}
	if len(errs) > 0 {
		writeProblem(w, http.StatusBadRequest, "Bad Request", "invalid parameters", errs)
		return
	}
	f, err := h.cfg.Store.FeaturesAt(r.Context(), card, at)
	if err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "velocity read failed", "card_id", card, "err", err)
		w.Header().Set("Retry-After", "1")
		writeProblem(w, http.StatusServiceUnavailable, "Service Unavailable", "the store could not be read", nil)
		return
	}
	b := make([]byte, 0, 512)
	b = append(b, `{"card_id":`...)
	b = fraud.AppendString(b, card)
	b = append(b, `,"at":`...)
	b = fraud.AppendString(b, at.Format(time.RFC3339Nano))
	b = append(b, `,"features":`...)
	b = f.AppendJSON(b)
	b = append(b, '}')
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"status":"ok"}`)
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := make(map[string]string, len(h.cfg.Ready))
	ready := true
	for name, c := range h.cfg.Ready {
		if err := c(ctx); errors.Is(err, ErrDisabled) {
			checks[name] = "disabled"
		} else if err != nil {
			checks[name] = err.Error()
			ready = false
		} else {
			checks[name] = "ok"
		}
	}
	status, code := "ready", http.StatusOK
	if !ready {
		status, code = "not ready", http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": checks})
}

// recoverer turns a panic into a problem+json 500 and a log line, so that a
// bug in one request neither kills the process nor leaks a stack trace.
func (h *Handler) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				h.cfg.Logger.ErrorContext(r.Context(), "panic in handler", "route", r.URL.Path, "panic", v)
				writeProblem(w, http.StatusInternalServerError, "Internal Server Error", "an unexpected error occurred", nil)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
