package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fraudscore/scorer/fraud"
)

// HTTPConfig configures an HTTPTarget.
type HTTPConfig struct {
	BaseURL     string        // e.g. http://127.0.0.1:8080; requests go to BaseURL + "/score"
	Token       string        // bearer token, when the service has auth on
	TimeoutMs   int           // sent as X-Timeout-Ms when > 0
	Timeout     time.Duration // client-side timeout per request; default 10s
	MaxInFlight int           // idle connections kept per host; default 256
}

// HTTPTarget posts each transaction to POST /score.
type HTTPTarget struct {
	cfg    HTTPConfig
	url    string
	client *http.Client
}

var _ Target = (*HTTPTarget)(nil)

// NewHTTPTarget returns a target with its own connection pool, sized so that
// every worker keeps its connection.
func NewHTTPTarget(cfg HTTPConfig) *HTTPTarget {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	tr := &http.Transport{
		Proxy:                 nil, // a load test measures the service, not a proxy
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          cfg.MaxInFlight,
		MaxIdleConnsPerHost:   cfg.MaxInFlight,
		MaxConnsPerHost:       cfg.MaxInFlight,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
		ForceAttemptHTTP2:     false,
	}
	return &HTTPTarget{
		cfg:    cfg,
		url:    strings.TrimRight(cfg.BaseURL, "/") + "/score",
		client: &http.Client{Transport: tr, Timeout: cfg.Timeout},
	}
}

// Close closes idle connections.
func (t *HTTPTarget) Close() { t.client.CloseIdleConnections() }

// Send posts ev.Tx and reads the decision of a 200 answer.
func (t *HTTPTarget) Send(ctx context.Context, ev *Event) Outcome {
	body, err := json.Marshal(&ev.Tx)
	if err != nil {
		return Outcome{Status: "error", Err: "encode: " + err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return Outcome{Status: "error", Err: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	if t.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+t.cfg.Token)
	}
	if t.cfg.TimeoutMs > 0 {
		req.Header.Set("X-Timeout-Ms", strconv.Itoa(t.cfg.TimeoutMs))
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return Outcome{Status: "error", Err: err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	out := Outcome{Status: strconv.Itoa(resp.StatusCode), OK: resp.StatusCode/100 == 2}
	if err != nil {
		return Outcome{Status: "error", Err: "read answer: " + err.Error()}
	}
	if resp.StatusCode == http.StatusOK {
		var r struct {
			Decision fraud.Decision `json:"decision"`
		}
		if json.Unmarshal(b, &r) == nil {
			out.Decision = r.Decision
		}
	}
	if !out.OK {
		out.Err = "status " + out.Status + ": " + sample(b)
	}
	return out
}

// sample is the start of an answer body, on one line: its runs of white
// space made single spaces (as strings.Fields and Join would make them),
// cut after 200 bytes. It reads no further than it needs to.
func sample(b []byte) string {
	const n = 200
	out := make([]byte, 0, 64)
	space := false // a space is due before the next non-space
	for i := 0; i < len(b); {
		c, size := rune(b[i]), 1
		if c >= utf8.RuneSelf {
			c, size = utf8.DecodeRune(b[i:])
		}
		if unicode.IsSpace(c) {
			space = len(out) > 0
		} else {
			if space {
				out = append(out, ' ')
				space = false
			}
			out = append(out, b[i:i+size]...)
		}
		i += size
		if len(out) > n {
			return string(out[:n]) + "..."
		}
	}
	return string(out)
}
