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
	// MaxEventAge is how far behind Now an event_time may be [0: only
	// fraud's fixed floor applies].
	MaxEventAge time.Duration
	// Ready lists the readiness checks by name ("store", "kafka").
	Ready map[string]Check
	// Now is the server clock [time.Now].
	Now    func() time.Time
	Logger *slog.Logger

	// Tokens, when set, are the bearer tokens required on /score,
	// /transactions/* and /cards/*; health, readiness, metrics and the spec
	// stay open.
	Tokens *Tokens
	// AdminTokens are the bearer tokens of /admin/*; without them the
	// admin endpoints answer 403.
	AdminTokens *Tokens
	// Reload, when set, reloads the model and rules (POST /admin/reload),
	// returning the active model version and why a reload was refused.
	Reload func() (string, error)
	// ModelVersion, when set, reports the active model in /readyz.
	ModelVersion func() string
	// Admission, when set, is admission control for POST /score: a cheap
	// Precheck before the body is read, Acquire once it has been.
	Admission Admission
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
	// scoring counts scorings still running after their answer went out
	// at the deadline; Wait waits for them.
	scoring sync.WaitGroup
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
			r.With(h.deadline).Post("/score", h.score)
			r.Get("/cards/{card_id}/velocity", h.velocity)
			r.Get("/transactions/{transaction_id}", h.transaction)
		})
		r.Group(func(r chi.Router) {
			if cfg.AdminTokens != nil {
				r.Use(RequireBearer(cfg.AdminTokens))
			} else {
				r.Use(func(http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						writeProblem(w, http.StatusForbidden, "Forbidden", "admin endpoints are off: start the service with --admin-tokens-file", nil)
					})
				})
			}
			r.Post("/admin/velocity/correct", h.correct)
			r.Post("/admin/reload", h.reload)
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

// ServeHTTP serves the API. A POST /score that admission control would
// shed is answered first thing, before tracing, routing and auth: under
// overload most requests are shed, and what a shed costs is what is left
// for scoring. Sheds are counted by admission control's own metrics.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if adm := h.cfg.Admission; adm != nil && r.Method == http.MethodPost && r.URL.Path == "/score" {
		if err := adm.Precheck(r.Context()); err != nil {
			shedBeforeBody(w, r, adm, err)
			return
		}
	}
	h.handler.ServeHTTP(w, r)
}

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
// are cut off and no connection lives forever. Serve it on a listener
// wrapped with Listener, so that even the errors net/http answers itself
// are problem+json.
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
	// chi matches on the escaped path when the URL has one (RawPath is set
	// only when the path holds an escaped '/' or the like), and then its
	// parameter is still escaped; otherwise it matches on the decoded path.
	// Decode exactly once: card%252Fx is the card "card%2Fx", not "card/x".
	card := chi.URLParam(r, "card_id")
	var err error
	if r.URL.RawPath != "" {
		if card, err = url.PathUnescape(card); err != nil {
			errs = append(errs, fraud.FieldError{Field: "card_id", Message: "is not a valid path segment"})
		}
	}
	if msg := fraud.CheckCardID(card); err == nil && msg != "" {
		errs = append(errs, fraud.FieldError{Field: "card_id", Message: msg})
	}
	at := h.cfg.Now().UTC()
	if v := r.URL.Query().Get("at"); v != "" {
		t, err := fraud.ParseTime(v)
		if err != nil {
			errs = append(errs, fraud.FieldError{Field: "at", Message: "must be an RFC 3339 timestamp"})
		} else {
			at = t
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
	doc := map[string]any{"status": status, "checks": checks}
	if h.cfg.ModelVersion != nil {
		doc["model_version"] = h.cfg.ModelVersion()
	}
	writeJSON(w, code, doc)
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

// reload answers POST /admin/reload: the model and rules files are read
// again and, when they load and check, take over; otherwise the active ones
// stay, and the answer (422) says why.
func (h *Handler) reload(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Reload == nil {
		writeProblem(w, http.StatusNotFound, "Not Found", "reloading is not available", nil)
		return
	}
	version, err := h.cfg.Reload()
	if err != nil {
		writeProblemType(w, http.StatusUnprocessableEntity, statusType(http.StatusUnprocessableEntity), "Reload Refused",
			"the new model or rules were refused, and the active ones ("+version+") keep answering: "+err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"model_version": version})
}
