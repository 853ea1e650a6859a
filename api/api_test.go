package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/fraudscore/scorer/api"
	"github.com/fraudscore/scorer/api/openapitest"
	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/model"
	"github.com/fraudscore/scorer/scoring"
	"github.com/fraudscore/scorer/velocity"
)

// server is the API on a real loopback listener over a real Badger.
type server struct {
	url   string
	store *velocity.Store
	spec  *openapitest.Validator
	close func()
	// skipSpec turns off the spec check for bulk requests.
	skipSpec bool
}

type options struct {
	dir     string
	now     func() time.Time
	maxBody int64
	tokens  *api.Tokens
	// model replaces the default logistic regression.
	model model.Model
	// admission, when set, is the admission control of POST /score.
	admission api.Admission
	// writable is the pipeline's write gate.
	writable func() error
	// admin are the admin tokens.
	admin *api.Tokens
}

func start(t testing.TB, o options) *server {
	t.Helper()
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	db, err := badger.OpenManaged(badger.DefaultOptions(o.dir).WithLogger(nil).WithDetectConflicts(false))
	if err != nil {
		t.Fatal(err)
	}
	store, err := velocity.Open(db, velocity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	known := append(store.Features().Names(), model.TransactionVariables()...)
	rules, err := model.DefaultRules(known)
	if err != nil {
		t.Fatal(err)
	}
	var m model.Model = model.DefaultLogistic()
	if o.model != nil {
		m = o.model
	}
	p := &scoring.Pipeline{Store: store, Engine: model.NewEngine(rules, m, model.Options{}), Writable: o.writable}
	h := api.New(api.Config{Pipeline: p, Store: store, Now: o.now, MaxBodyBytes: o.maxBody, Tokens: o.tokens,
		Admission: o.admission, AdminTokens: o.admin,
		Ready: map[string]api.Check{
			"store": func(context.Context) error { return nil },
			"kafka": func(context.Context) error { return api.ErrDisabled },
		}})
	// The server as service runs it: its timeouts, and its listener that
	// turns net/http's own error answers into problem+json.
	hs := httptest.NewUnstartedServer(h)
	hs.Config = api.NewServer("", h, 2*time.Second)
	hs.Listener = api.Listener(hs.Listener)
	hs.Start()
	s := &server{url: hs.URL, store: store, spec: openapitest.New(t, api.Spec())}
	var once sync.Once
	s.close = func() {
		once.Do(func() {
			hs.Close()
			h.Wait()
			store.Close()
			db.Close()
		})
	}
	t.Cleanup(s.close)
	return s
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) result(t testing.TB) fraud.Result {
	t.Helper()
	var res fraud.Result
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatalf("decode result %s: %v", r.body, err)
	}
	return res
}

func (r reply) problem(t testing.TB) api.Problem {
	t.Helper()
	var p api.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("decode problem %s: %v", r.body, err)
	}
	return p
}

// do sends a request and checks the response against api/openapi.yaml.
func (s *server) do(t testing.TB, method, path string, body []byte, header map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !s.skipSpec {
		s.spec.CheckResponse(t, req, resp.StatusCode, resp.Header, b)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func (s *server) score(t testing.TB, tx map[string]any) reply {
	t.Helper()
	b, _ := json.Marshal(tx)
	return s.do(t, http.MethodPost, "/score", b, nil)
}

func validTx(id string) map[string]any {
	return map[string]any{
		"transaction_id": id, "card_id": "card_abc", "amount": 1999, "currency": "USD",
		"event_time": time.Now().UTC().Format(time.RFC3339), "merchant_id": "m1", "channel": "ecom",
	}
}

func TestScoreReturnsADecision(t *testing.T) {
	s := start(t, options{})
	r := s.score(t, validTx("t-1"))
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, body %s", r.status, r.body)
	}
	res := r.result(t)
	if res.TransactionID != "t-1" || res.Duplicate || res.Degraded || res.Decision != fraud.Approve {
		t.Errorf("unexpected result %+v", res)
	}
	if got, _ := res.Features.Get("card_tx_count_1m"); got != 1 {
		t.Errorf("card_tx_count_1m = %v, want 1", got)
	}
}

func TestScoreRejectsBadInput(t *testing.T) {
	s := start(t, options{maxBody: 1024})
	with := func(k string, v any) []byte {
		tx := validTx("bad")
		if v == nil {
			delete(tx, k)
		} else {
			tx[k] = v
		}
		b, _ := json.Marshal(tx)
		return b
	}
	tests := []struct {
		name       string
		body       []byte
		header     map[string]string
		wantStatus int
		wantFields []string
	}{
		{name: "missing fields are each named", body: []byte(`{"transaction_id":"x"}`), wantStatus: 400,
			wantFields: []string{"card_id", "amount", "currency", "event_time"}},
		{name: "raw card number", body: with("card_id", "4111111111111111"), wantStatus: 400, wantFields: []string{"card_id"}},
		{name: "amount as string", body: with("amount", "12"), wantStatus: 400, wantFields: []string{"amount"}},
		{name: "negative amount", body: with("amount", -1), wantStatus: 400, wantFields: []string{"amount"}},
		{name: "bad currency", body: with("currency", "usd"), wantStatus: 400, wantFields: []string{"currency"}},
		{name: "event far in the future", body: with("event_time", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), wantStatus: 400, wantFields: []string{"event_time"}},
		{name: "bad channel", body: with("channel", "web"), wantStatus: 400, wantFields: []string{"channel"}},
		{name: "bad ip", body: with("ip", "1.2.3"), wantStatus: 400, wantFields: []string{"ip"}},
		{name: "bad status", body: with("status", "ok"), wantStatus: 400, wantFields: []string{"status"}},
		{name: "not JSON", body: []byte(`{"transaction_id":`), wantStatus: 400, wantFields: []string{"body"}},
		{name: "not an object", body: []byte(`[1,2]`), wantStatus: 400, wantFields: []string{"body"}},
		{name: "bad budget header", body: with("x", 1), header: map[string]string{"X-Timeout-Ms": "soon"}, wantStatus: 400, wantFields: []string{"X-Timeout-Ms"}},
		{name: "over the body limit", body: with("merchant_category", strings.Repeat("a", 2000)), wantStatus: 413},
		{name: "not JSON content type", body: with("x", 1), header: map[string]string{"Content-Type": "text/plain"}, wantStatus: 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, http.MethodPost, "/score", tt.body, tt.header)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", r.status, tt.wantStatus, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("content type = %q", ct)
			}
			p := r.problem(t)
			var got []string
			for _, e := range p.Errors {
				got = append(got, e.Field)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantFields) && !(len(got) == 0 && len(tt.wantFields) == 0) {
				t.Errorf("fields = %v, want %v", got, tt.wantFields)
			}
			if bytes.Contains(r.body, []byte("4111111111111111")) {
				t.Error("the problem echoes the card number")
			}
		})
	}
}

func TestConcurrentDuplicatesOverHTTPCountOnce(t *testing.T) {
	s := start(t, options{})
	tx := validTx("dup-1")
	const n = 32
	replies := make([]reply, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = s.score(t, tx)
		}()
	}
	wg.Wait()
	firsts := 0
	var want fraud.Result
	for _, r := range replies {
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		res := r.result(t)
		if !res.Duplicate {
			firsts++
			want = res
		}
	}
	if firsts != 1 {
		t.Fatalf("%d requests were counted, want 1", firsts)
	}
	for _, r := range replies {
		res := r.result(t)
		res.Duplicate = false
		if fmt.Sprint(res) != fmt.Sprint(want) {
			t.Errorf("duplicate answered %+v, want the first result %+v", res, want)
		}
	}
	r := s.do(t, http.MethodGet, "/cards/card_abc/velocity", nil, nil)
	var v struct{ Features fraud.Features }
	json.Unmarshal(r.body, &v)
	if got, _ := v.Features.Get("card_tx_count_1m"); got != 1 {
		t.Errorf("card_tx_count_1m = %v, want 1", got)
	}
}

func TestRetryAfterRestartIsADuplicate(t *testing.T) {
	dir := t.TempDir()
	s := start(t, options{dir: dir})
	tx := validTx("r-1")
	first := s.score(t, tx).result(t)
	s.close()
	s = start(t, options{dir: dir})
	again := s.score(t, tx).result(t)
	if !again.Duplicate {
		t.Fatal("retry after restart was not a duplicate")
	}
	again.Duplicate = false
	if fmt.Sprint(again) != fmt.Sprint(first) {
		t.Errorf("stored result %+v, want %+v", again, first)
	}
}

func TestVelocityEndpoint(t *testing.T) {
	s := start(t, options{})
	s.score(t, validTx("v-1"))
	tests := []struct {
		path   string
		status int
		count  float64
	}{
		{path: "/cards/card_abc/velocity", status: 200, count: 1},
		{path: "/cards/card_abc/velocity?at=2019-01-01T00:00:00Z", status: 200, count: 0},
		{path: "/cards/card_other/velocity", status: 200, count: 0},
		{path: "/cards/4111111111111111/velocity", status: 400},
		{path: "/cards/card_abc/velocity?at=yesterday", status: 400},
	}
	for _, tt := range tests {
		r := s.do(t, http.MethodGet, tt.path, nil, nil)
		if r.status != tt.status {
			t.Errorf("%s: status = %d, want %d", tt.path, r.status, tt.status)
			continue
		}
		if tt.status == 200 {
			var v struct{ Features fraud.Features }
			json.Unmarshal(r.body, &v)
			if got, _ := v.Features.Get("card_tx_count_1m"); got != tt.count {
				t.Errorf("%s: count = %v, want %v", tt.path, got, tt.count)
			}
		}
	}
}

func TestOperationalEndpoints(t *testing.T) {
	s := start(t, options{})
	for _, path := range []string{"/healthz", "/readyz", "/openapi.yaml"} {
		if r := s.do(t, http.MethodGet, path, nil, nil); r.status != 200 {
			t.Errorf("%s: status %d", path, r.status)
		}
	}
	if r := s.do(t, http.MethodGet, "/openapi.yaml", nil, nil); !bytes.Contains(r.body, []byte("openapi: 3.1")) {
		t.Error("the spec is not OpenAPI 3.1")
	}
}

func FuzzScoreHandler(f *testing.F) {
	for _, s := range []string{
		`{"transaction_id":"a","card_id":"c","amount":1,"currency":"USD","event_time":"2019-01-01T00:00:00Z"}`,
		`{"transaction_id":"a","card_id":"4111111111111111","amount":1.5,"currency":"usd","event_time":"x"}`,
		`{"amount":"1","status":{},"ip":[]}`, `[]`, `null`, `"x"`, `{`, ``,
		`{"transaction_id":"b","card_id":"c","amount":1000000000000,"currency":"EUR","event_time":"2019-01-01T00:00:00.123456789+05:00","country":"DE","ip":"::1","status":"failed"}`,
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	db, err := badger.OpenManaged(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	store, err := velocity.Open(db, velocity.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer store.Close()
	rules, _ := model.DefaultRules(append(store.Features().Names(), model.TransactionVariables()...))
	h := api.New(api.Config{Pipeline: &scoring.Pipeline{Store: store, Engine: model.NewEngine(rules, model.DefaultLogistic(), model.Options{})}, Store: store})
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/score", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400, 413:
		default:
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
		if w.Code == 400 && !json.Valid(w.Body.Bytes()) {
			t.Fatalf("problem is not JSON: %s", w.Body)
		}
	})
}
