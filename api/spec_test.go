package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/fraudscore/scorer/api/openapitest"
	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/fraud"
)

// recorder is a testing.TB that records failures instead of failing the
// test, so that tests can assert that the validator rejects an exchange.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed bool
	msgs   []string
}

type fatal struct{}

func newRecorder(t testing.TB) *recorder { return &recorder{TB: t} }

func (r *recorder) Helper() {}

func (r *recorder) record(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
	r.msgs = append(r.msgs, msg)
}

func (r *recorder) Errorf(format string, args ...any) { r.record(fmt.Sprintf(format, args...)) }
func (r *recorder) Error(args ...any)                 { r.record(fmt.Sprint(args...)) }
func (r *recorder) Fail()                             { r.record("Fail") }
func (r *recorder) Fatalf(format string, args ...any) {
	r.record(fmt.Sprintf(format, args...))
	panic(fatal{})
}
func (r *recorder) Fatal(args ...any) { r.record(fmt.Sprint(args...)); panic(fatal{}) }
func (r *recorder) FailNow()          { r.record("FailNow"); panic(fatal{}) }

func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msgs, "\n")
}

// run calls f, absorbing the panic of a recorded Fatal.
func (r *recorder) run(f func()) {
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(fatal); !ok {
				panic(p)
			}
		}
	}()
	f()
}

func validator(t *testing.T) *openapitest.Validator {
	t.Helper()
	return openapitest.New(t, Spec())
}

// The requests carry absolute URLs, as a real client's do.
const base = "http://127.0.0.1:1234"

func newRequest(t testing.TB, method, target string, body []byte) *http.Request {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, base+target, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json; charset=utf-8"}}
}
func problemHeader() http.Header { return http.Header{"Content-Type": {"application/problem+json"}} }

func sampleResult() fraud.Result {
	return fraud.Result{
		TransactionID: "tx-1",
		Score:         0.82,
		Decision:      fraud.Review,
		Reasons: []fraud.Reason{
			{Code: "CARD_VELOCITY_1M", Message: "4 transactions in the last minute"},
			{Code: "HIGH_AMOUNT", Message: "amount far above usual"},
		},
		Features: fraud.Features{
			{Name: "card_tx_count_1m", Value: 4},
			{Name: "card_amount_sum_1h", Value: 48211},
			{Name: "card_seconds_since_prev", Value: 12.5},
			{Name: "card_seconds_since_prev_other", Value: -1},
		},
		ModelVersion: "gbm-1",
		AlertID:      fraud.AlertID("tx-1"),
	}
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mutate decodes b as a JSON object, applies f and encodes it again.
func mutate(t testing.TB, b []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	return marshal(t, m)
}

// wantReject asserts that CheckResponse fails a recorder for the exchange.
func wantReject(t *testing.T, v *openapitest.Validator, req *http.Request, status int, h http.Header, body []byte) {
	t.Helper()
	rec := newRecorder(t)
	rec.run(func() { v.CheckResponse(rec, req, status, h, body) })
	if !rec.Failed() {
		t.Errorf("CheckResponse accepted %s %s -> %d %s", req.Method, req.URL.Path, status, body)
		return
	}
	t.Logf("rejected as expected: %s", rec)
	if !strings.Contains(rec.String(), req.URL.Path) {
		t.Errorf("failure message does not name the request: %s", rec)
	}
	if err := v.ValidateResponse(req, status, h, body); err == nil {
		t.Errorf("ValidateResponse accepted what CheckResponse rejected")
	}
}

func TestSpecLoadsAsOpenAPI31(t *testing.T) {
	first, _, _ := bytes.Cut(Spec(), []byte("\n"))
	if !bytes.Contains(first, []byte("openapi: 3.1")) {
		t.Fatalf("first line is %q, want openapi: 3.1.x", first)
	}
	v := validator(t)
	doc := v.Doc()
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("kin-openapi does not see the document as 3.1: %q", doc.OpenAPI)
	}
	want := map[string][]string{
		"/score":                         {http.MethodPost},
		"/cards/{card_id}/velocity":      {http.MethodGet},
		"/transactions/{transaction_id}": {http.MethodGet},
		"/admin/velocity/correct":        {http.MethodPost},
		"/admin/reload":                  {http.MethodPost},
		"/healthz":                       {http.MethodGet},
		"/readyz":                        {http.MethodGet},
		"/metrics":                       {http.MethodGet},
		"/openapi.yaml":                  {http.MethodGet},
	}
	if got := doc.Paths.Len(); got != len(want) {
		t.Errorf("document has %d paths, want %d", got, len(want))
	}
	for path, methods := range want {
		item := doc.Paths.Value(path)
		if item == nil {
			t.Errorf("path %s missing", path)
			continue
		}
		for _, m := range methods {
			if item.GetOperation(m) == nil {
				t.Errorf("%s %s missing", m, path)
			}
		}
	}
	// The default feature names are part of the API and must be documented.
	documented := doc.Components.Schemas["Features"].Value.Description
	for _, name := range features.Default().Names() {
		if !strings.Contains(documented, "`"+name+"`") {
			t.Errorf("feature %s is not documented", name)
		}
	}
}

func TestNewFailsOnInvalidDocument(t *testing.T) {
	bad := bytes.Replace(Spec(), []byte("enum: [approve, review, decline]"), []byte("enum: 7"), 1)
	rec := newRecorder(t)
	rec.run(func() { openapitest.New(rec, bad) })
	if !rec.Failed() {
		t.Fatal("New accepted an invalid document")
	}
}

func TestScoreResultValid(t *testing.T) {
	v := validator(t)
	req := newRequest(t, http.MethodPost, "/score", nil)

	res := sampleResult()
	v.CheckResponse(t, req, http.StatusOK, jsonHeader(), marshal(t, res))

	// An approval without alert_id, reasons or features is valid too.
	ok := fraud.Result{TransactionID: "tx-2", Decision: fraud.Approve, Reasons: []fraud.Reason{}, ModelVersion: "rules-1", Degraded: true, Duplicate: true, Late: true}
	v.CheckResponse(t, req, http.StatusOK, jsonHeader(), marshal(t, ok))

	// Unknown response fields are allowed (clients must ignore them).
	v.CheckResponse(t, req, http.StatusOK, jsonHeader(), mutate(t, marshal(t, res), func(m map[string]any) { m["new_field"] = 1 }))
}

func TestScoreResultRejected(t *testing.T) {
	v := validator(t)
	req := newRequest(t, http.MethodPost, "/score", nil)
	good := marshal(t, sampleResult())
	cases := map[string]func(m map[string]any){
		"missing decision":   func(m map[string]any) { delete(m, "decision") },
		"score 1.5":          func(m map[string]any) { m["score"] = 1.5 },
		"score -0.1":         func(m map[string]any) { m["score"] = -0.1 },
		"unknown decision":   func(m map[string]any) { m["decision"] = "maybe" },
		"lower-case code":    func(m map[string]any) { m["reasons"] = []any{map[string]any{"code": "high_amount", "message": "x"}} },
		"reason no message":  func(m map[string]any) { m["reasons"] = []any{map[string]any{"code": "HIGH_AMOUNT"}} },
		"reasons null":       func(m map[string]any) { m["reasons"] = nil },
		"feature not number": func(m map[string]any) { m["features"] = map[string]any{"card_tx_count_1m": "4"} },
		"features array":     func(m map[string]any) { m["features"] = []any{1} },
		"missing late":       func(m map[string]any) { delete(m, "late") },
		"degraded string":    func(m map[string]any) { m["degraded"] = "false" },
		"empty alert_id":     func(m map[string]any) { m["alert_id"] = "" },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantReject(t, v, req, http.StatusOK, jsonHeader(), mutate(t, good, f))
		})
	}
	t.Run("not json content type", func(t *testing.T) {
		wantReject(t, v, req, http.StatusOK, http.Header{"Content-Type": {"text/plain"}}, good)
	})
	t.Run("undocumented status", func(t *testing.T) {
		wantReject(t, v, req, http.StatusInternalServerError, problemHeader(), good)
	})
	t.Run("unknown path", func(t *testing.T) {
		rec := newRecorder(t)
		v.CheckResponse(rec, newRequest(t, http.MethodPost, "/scores", nil), http.StatusOK, jsonHeader(), good)
		if !rec.Failed() {
			t.Error("an unknown path was accepted")
		}
	})
}

func problem(status int, errs ...fraud.FieldError) []byte {
	p := map[string]any{
		"type":   "urn:fraudscore:problem:" + strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "-")),
		"title":  http.StatusText(status),
		"status": status,
		"detail": "something is wrong",
	}
	if errs != nil {
		p["errors"] = errs
	}
	b, _ := json.Marshal(p)
	return b
}

func TestProblems(t *testing.T) {
	v := validator(t)
	score := newRequest(t, http.MethodPost, "/score", []byte(`{"amount":-1}`))

	v.CheckResponse(t, score, http.StatusBadRequest, problemHeader(),
		problem(400, fraud.FieldError{Field: "amount", Message: "must be an integer"}, fraud.FieldError{Field: "currency", Message: "is required"}))
	for _, status := range []int{400, 401, 413, 415} {
		v.CheckResponse(t, score, status, problemHeader(), problem(status))
	}
	shed := problemHeader()
	shed.Set("Retry-After", "1")
	v.CheckResponse(t, score, http.StatusServiceUnavailable, shed, problem(503))

	t.Run("503 without Retry-After", func(t *testing.T) {
		wantReject(t, v, score, http.StatusServiceUnavailable, problemHeader(), problem(503))
	})
	t.Run("Retry-After not seconds", func(t *testing.T) {
		h := problemHeader()
		h.Set("Retry-After", "soon")
		wantReject(t, v, score, http.StatusServiceUnavailable, h, problem(503))
	})
	t.Run("missing title", func(t *testing.T) {
		wantReject(t, v, score, http.StatusBadRequest, problemHeader(), mutate(t, problem(400), func(m map[string]any) { delete(m, "title") }))
	})
	t.Run("error without field", func(t *testing.T) {
		wantReject(t, v, score, http.StatusBadRequest, problemHeader(), mutate(t, problem(400), func(m map[string]any) {
			m["errors"] = []any{map[string]any{"message": "x"}}
		}))
	})
	t.Run("plain json content type", func(t *testing.T) {
		wantReject(t, v, score, http.StatusBadRequest, jsonHeader(), problem(400))
	})
}

func TestScoreRequests(t *testing.T) {
	v := validator(t)
	valid := `{"transaction_id":"tx-1","card_id":"card_9f2c1e7a","amount":12999,"currency":"EUR","event_time":"2026-01-02T15:04:05Z"}`
	full := `{"transaction_id":"tx-1","card_id":"card 9f2c","amount":0,"currency":"USD","event_time":"2026-01-02T15:04:05.123+01:00",
		"merchant_id":"m-1","merchant_category":"5732","device_id":"","country":"US","channel":"ecom","ip":"2001:db8::1","status":"declined","unknown":{"x":1}}`
	cases := []struct {
		name string
		body string
		// schema: whether the spec accepts it; server: whether
		// fraud.DecodeTransaction does. They differ only where the rule
		// cannot be written as a schema (Luhn check, code lists).
		schema, server bool
	}{
		{"minimal", valid, true, true},
		{"all fields", full, true, true},
		{"ipv4", strings.Replace(full, "2001:db8::1", "203.0.113.7", 1), true, true},
		{"max amount", strings.Replace(valid, "12999", "1000000000000", 1), true, true},
		{"amount too large", strings.Replace(valid, "12999", "1000000000001", 1), false, false},
		{"negative amount", strings.Replace(valid, "12999", "-1", 1), false, false},
		{"fractional amount", strings.Replace(valid, "12999", "1.5", 1), false, false},
		{"amount string", strings.Replace(valid, "12999", `"12999"`, 1), false, false},
		{"missing event_time", strings.Replace(valid, `,"event_time":"2026-01-02T15:04:05Z"`, "", 1), false, false},
		{"bad event_time", strings.Replace(valid, "2026-01-02T15:04:05Z", "2026-01-02 15:04:05", 1), false, false},
		{"lower-case currency", strings.Replace(valid, "EUR", "eur", 1), false, false},
		{"unknown currency", strings.Replace(valid, "EUR", "XYZ", 1), true, false},
		{"space in transaction_id", strings.Replace(valid, "tx-1", "tx 1", 1), false, false},
		{"empty transaction_id", strings.Replace(valid, `"tx-1"`, `""`, 1), false, false},
		{"long transaction_id", strings.Replace(valid, "tx-1", strings.Repeat("x", 129), 1), false, false},
		{"empty card_id", strings.Replace(valid, "card_9f2c1e7a", "", 1), false, false},
		{"control char in card_id", strings.Replace(valid, "card_9f2c1e7a", `card\u0001`, 1), false, false},
		{"PAN card_id", strings.Replace(valid, "card_9f2c1e7a", "4111111111111111", 1), true, false},
		{"bad channel", strings.Replace(full, `"ecom"`, `"web"`, 1), false, false},
		{"bad status", strings.Replace(full, `"declined"`, `"pending"`, 1), false, false},
		{"bad ip", strings.Replace(full, "2001:db8::1", "999.1.1.1", 1), false, false},
		{"lower-case country", strings.Replace(full, `"US"`, `"us"`, 1), false, false},
		{"long merchant_id", strings.Replace(full, `"m-1"`, `"`+strings.Repeat("m", 129)+`"`, 1), false, false},
		{"not an object", `[1,2]`, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			body := []byte(c.body)
			err := v.ValidateRequest(newRequest(t, http.MethodPost, "/score", body), body)
			if got := err == nil; got != c.schema {
				t.Errorf("spec accepts: %v, want %v (%v)", got, c.schema, err)
			}
			_, err = fraud.DecodeTransaction(body, fraud.Limits{})
			if got := err == nil; got != c.server {
				t.Errorf("fraud.DecodeTransaction accepts: %v, want %v (%v)", got, c.server, err)
			}
		})
	}

	t.Run("headers", func(t *testing.T) {
		body := []byte(valid)
		for _, h := range []struct {
			name, value string
			ok          bool
		}{
			{"X-Timeout-Ms", "250", true},
			{"X-Timeout-Ms", "0", false},
			{"X-Timeout-Ms", "soon", false},
			{"Authorization", "Bearer secret", true},
		} {
			req := newRequest(t, http.MethodPost, "/score", body)
			req.Header.Set(h.name, h.value)
			if err := v.ValidateRequest(req, body); (err == nil) != h.ok {
				t.Errorf("%s: %s: accepted %v, want %v (%v)", h.name, h.value, err == nil, h.ok, err)
			}
		}
	})
	t.Run("Check fails on an invalid request", func(t *testing.T) {
		body := []byte(strings.Replace(valid, "EUR", "eur", 1))
		rec := newRecorder(t)
		v.Check(rec, newRequest(t, http.MethodPost, "/score", body), body, http.StatusOK, jsonHeader(), marshal(t, sampleResult()))
		if !rec.Failed() || !strings.Contains(rec.String(), "CheckResponse") {
			t.Errorf("Check did not fail clearly: %q", rec)
		}
	})
}

func TestOtherEndpoints(t *testing.T) {
	v := validator(t)
	get := func(target string) *http.Request { return newRequest(t, http.MethodGet, target, nil) }

	velocity := get("/cards/card_9f2c1e7a/velocity?at=2026-01-02T15:04:05Z")
	v.Check(t, velocity, nil, http.StatusOK, jsonHeader(),
		[]byte(`{"card_id":"card_9f2c1e7a","at":"2026-01-02T15:04:05Z","features":{"card_tx_count_1m":0,"card_seconds_since_prev":-1}}`))
	v.Check(t, get("/cards/card_9f2c1e7a/velocity"), nil, http.StatusOK, jsonHeader(),
		[]byte(`{"card_id":"card_9f2c1e7a","at":"2026-01-02T15:04:05.5Z","features":{}}`))
	badAt := get("/cards/card_9f2c1e7a/velocity?at=yesterday")
	if err := v.ValidateRequest(badAt, nil); err == nil {
		t.Error("at=yesterday accepted")
	}
	v.CheckResponse(t, badAt, http.StatusBadRequest, problemHeader(), problem(400, fraud.FieldError{Field: "at", Message: "must be RFC 3339"}))
	wantReject(t, v, velocity, http.StatusOK, jsonHeader(), []byte(`{"card_id":"c","features":{}}`))
	unavailable := problemHeader()
	unavailable.Set("Retry-After", "1")
	v.CheckResponse(t, velocity, http.StatusServiceUnavailable, unavailable, problem(503))
	wantReject(t, v, velocity, http.StatusServiceUnavailable, problemHeader(), problem(503))

	v.Check(t, get("/healthz"), nil, http.StatusOK, jsonHeader(), []byte(`{"status":"ok"}`))
	wantReject(t, v, get("/healthz"), http.StatusOK, jsonHeader(), []byte(`{"status":"fine"}`))

	v.Check(t, get("/readyz"), nil, http.StatusOK, jsonHeader(), []byte(`{"status":"ready","checks":{"store":"ok","kafka":"disabled"}}`))
	v.Check(t, get("/readyz"), nil, http.StatusServiceUnavailable, jsonHeader(),
		[]byte(`{"status":"not ready","checks":{"store":"ok","kafka":"dial tcp 127.0.0.1:9092: connection refused"}}`))
	wantReject(t, v, get("/readyz"), http.StatusServiceUnavailable, jsonHeader(), []byte(`{"status":"down","checks":{"store":"ok","kafka":"ok"}}`))
	wantReject(t, v, get("/readyz"), http.StatusOK, jsonHeader(), []byte(`{"status":"ready","checks":{"store":"ok"}}`))

	v.Check(t, get("/metrics"), nil, http.StatusOK, http.Header{"Content-Type": {"text/plain; version=0.0.4; charset=utf-8; escaping=underscores"}},
		[]byte("# HELP up\n# TYPE up gauge\nup 1\n"))

	v.Check(t, get("/openapi.yaml"), nil, http.StatusOK, http.Header{"Content-Type": {"application/yaml"}}, Spec())
	wantReject(t, v, get("/openapi.yaml"), http.StatusOK, http.Header{"Content-Type": {"application/yaml"}}, []byte("openapi: 3.0.3\n"))
}

// TestRealServer checks an exchange over a real connection: the request
// carries an absolute URL and its body has been consumed by the client.
func TestRealServer(t *testing.T) {
	v := validator(t)
	res := marshal(t, sampleResult())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(res)
	}))
	defer srv.Close()

	body := []byte(`{"transaction_id":"tx-1","card_id":"card_9f2c1e7a","amount":12999,"currency":"EUR","event_time":"2026-01-02T15:04:05Z"}`)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/score", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Timeout-Ms", "500")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	v.Check(t, req, body, resp.StatusCode, resp.Header, respBody)
}

// TestConcurrentUse exercises one Validator from many goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	v := validator(t)
	good := marshal(t, sampleResult())
	bad := mutate(t, good, func(m map[string]any) { m["score"] = 2 })
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest(http.MethodPost, base+"/score", nil)
			if err := v.ValidateResponse(req, http.StatusOK, jsonHeader(), good); err != nil {
				t.Errorf("goroutine %d: %v", i, err)
			}
			if err := v.ValidateResponse(req, http.StatusOK, jsonHeader(), bad); err == nil {
				t.Errorf("goroutine %d: score 2 accepted", i)
			}
		}()
	}
	wg.Wait()
}
