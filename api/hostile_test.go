package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fraudscore/scorer/api"
	"github.com/fraudscore/scorer/backpressure"
	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/model"
)

// These tests send what a hostile or careless client would, through the
// real HTTP server, and check that the answer is a clear 4xx, that nothing
// else changed, and that normal traffic is still served afterwards.

// witness is a card scored before each hostile request, whose features and
// the store's stream time must not move because of it.
type witness struct {
	s      *server
	at     time.Time
	before fraud.Features
	stream time.Time
}

func newWitness(t *testing.T, s *server) *witness {
	t.Helper()
	tx := validTx("witness-" + strconv.FormatInt(time.Now().UnixNano(), 36))
	tx["card_id"] = "card_witness"
	if r := s.score(t, tx); r.status != http.StatusOK {
		t.Fatalf("witness: %d %s", r.status, r.body)
	}
	at := time.Now()
	return &witness{s: s, at: at, before: s.velocity(t, "card_witness", at), stream: s.store.Stats().StreamTime}
}

// unchanged checks that the witness card and stream time did not move, and
// that a new transaction is scored on time.
func (w *witness) unchanged(t *testing.T) {
	t.Helper()
	if after := w.s.velocity(t, "card_witness", w.at); fmt.Sprint(after) != fmt.Sprint(w.before) {
		t.Errorf("another card's features moved: %v, were %v", after, w.before)
	}
	if st := w.s.store.Stats().StreamTime; st.After(time.Now()) || st.Before(w.stream) {
		t.Errorf("stream time %v; it was %v and may not pass the clock", st, w.stream)
	}
	tx := validTx("normal-" + strconv.FormatInt(time.Now().UnixNano(), 36))
	tx["card_id"] = "card_normal"
	r := w.s.score(t, tx)
	if r.status != http.StatusOK {
		t.Fatalf("normal traffic afterwards: %d %s", r.status, r.body)
	}
	if res := r.result(t); res.Late || res.Duplicate {
		t.Errorf("normal traffic afterwards: %+v, want on time and new", res)
	}
}

func (s *server) velocity(t *testing.T, card string, at time.Time) fraud.Features {
	t.Helper()
	r := s.do(t, http.MethodGet, "/cards/"+card+"/velocity?at="+at.UTC().Format(time.RFC3339Nano), nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("velocity of %s: %d %s", card, r.status, r.body)
	}
	var v struct{ Features fraud.Features }
	json.Unmarshal(r.body, &v)
	return v.Features
}

func fieldsOf(p api.Problem) []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

func TestEventTimesThatWouldPoisonStreamTimeAreRefused(t *testing.T) {
	s := start(t, options{})
	w := newWitness(t, s)
	for _, give := range []string{"1600-01-01T00:00:00Z", "1677-09-21T00:12:43Z", "1650-06-01T00:00:00Z", "1969-12-31T23:59:59Z", "2026-01-02T15:04:05+24:00"} {
		t.Run(give, func(t *testing.T) {
			tx := validTx("old-" + give)
			tx["event_time"] = give
			r := s.score(t, tx)
			if r.status != http.StatusBadRequest || fmt.Sprint(fieldsOf(r.problem(t))) != "[event_time]" {
				t.Fatalf("event_time %s: %d %s, want 400 naming event_time", give, r.status, r.body)
			}
		})
	}
	w.unchanged(t)
}

func TestAnEventAheadOfTheClockDoesNotMakeLiveTrafficLate(t *testing.T) {
	s := start(t, options{})
	w := newWitness(t, s)
	tx := validTx("skewed")
	tx["card_id"] = "card_skewed"
	tx["event_time"] = time.Now().Add(290 * time.Second).UTC().Format(time.RFC3339)
	if r := s.score(t, tx); r.status != http.StatusOK {
		t.Fatalf("an event 290 s ahead (inside the 5 m skew): %d %s", r.status, r.body)
	}
	w.unchanged(t)
}

func TestReusedTransactionIDWithOtherFieldsIs422(t *testing.T) {
	s := start(t, options{})
	tx := validTx("reuse-1")
	first := s.score(t, tx)
	if first.status != http.StatusOK {
		t.Fatalf("%d %s", first.status, first.body)
	}
	w := newWitness(t, s)
	other := validTx("reuse-1")
	other["event_time"] = tx["event_time"]
	other["amount"], other["merchant_id"] = 5, "m-other"
	r := s.score(t, other)
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("reused id with other fields: %d %s, want 422", r.status, r.body)
	}
	p := r.problem(t)
	if p.Type != api.ProblemIdempotencyConflict || fmt.Sprint(fieldsOf(p)) != "[amount merchant_id]" {
		t.Errorf("problem %+v, want %s naming amount and merchant_id", p, api.ProblemIdempotencyConflict)
	}
	again := s.score(t, tx)
	if again.status != http.StatusOK || !again.result(t).Duplicate {
		t.Errorf("the same body again: %d %s, want the stored result", again.status, again.body)
	}
	if n, _ := s.velocity(t, "card_abc", time.Now()).Get("card_tx_count_1m"); n != 1 {
		t.Errorf("card counted %v times, want 1", n)
	}
	w.unchanged(t)
}

// switchModel fails as a model out of time does while down is set (so the
// engine answers from the rules alone), and otherwise scores every payment
// 0.95. It fails at once rather than waiting for its deadline: how late a
// loaded machine wakes a goroutine is not what this test is about.
type switchModel struct{ down atomic.Bool }

func (m *switchModel) Predict(ctx context.Context, in model.Input) (model.Prediction, error) {
	if m.down.Load() {
		return model.Prediction{}, context.DeadlineExceeded
	}
	return model.Prediction{Score: 0.95}, nil
}
func (m *switchModel) Version() string { return "switch-1" }

func TestRulesOnlyAnswerIsRevisedByARetryWithTime(t *testing.T) {
	m := &switchModel{}
	m.down.Store(true)
	s := start(t, options{model: m})
	tx := validTx("provisional-1")
	b, _ := json.Marshal(tx)
	r := s.do(t, http.MethodPost, "/score", b, nil)
	first := r.result(t)
	if r.status != http.StatusOK || !first.Degraded || first.Decision != fraud.Approve || first.AlertID != "" {
		t.Fatalf("with the model out of time: %d %+v, want a degraded rules-only approve", r.status, first)
	}

	m.down.Store(false)
	second := s.do(t, http.MethodPost, "/score", b, nil).result(t)
	if !second.Duplicate || second.Degraded || second.ModelVersion != "switch-1" || second.Decision != fraud.Decline || second.AlertID == "" {
		t.Fatalf("retry with time to spare: %+v, want the model's decline, revised and stored, with its alert", second)
	}
	third := s.do(t, http.MethodPost, "/score", b, nil).result(t)
	if fmt.Sprint(third) != fmt.Sprint(second) {
		t.Errorf("the revised answer is not the stored one: %+v, then %+v", second, third)
	}
	if n, _ := s.velocity(t, "card_abc", time.Now()).Get("card_tx_count_1m"); n != 1 {
		t.Errorf("the transaction counted %v times, want 1", n)
	}
}

func TestTimeoutHeaderBelowTheSmallestBudgetIs400(t *testing.T) {
	s := start(t, options{})
	for _, give := range []string{"1", "4", "9", "0", "-5", "soon"} {
		b, _ := json.Marshal(validTx("short-" + give))
		r := s.do(t, http.MethodPost, "/score", b, map[string]string{"X-Timeout-Ms": give})
		if r.status != http.StatusBadRequest || fmt.Sprint(fieldsOf(r.problem(t))) != "[X-Timeout-Ms]" {
			t.Errorf("X-Timeout-Ms %s: %d %s, want 400 naming the header", give, r.status, r.body)
		}
	}
	// 10 ms is served: scored (200), or 503 when a loaded machine cannot
	// make it, but never refused as the client's mistake.
	b, _ := json.Marshal(validTx("short-ok"))
	if r := s.do(t, http.MethodPost, "/score", b, map[string]string{"X-Timeout-Ms": "10"}); r.status != http.StatusOK && r.status != http.StatusServiceUnavailable {
		t.Errorf("X-Timeout-Ms 10: %d %s, want it served", r.status, r.body)
	}
}

// rawRequest writes head (and body, unless nil) on a new connection and
// returns the connection, for clients that misbehave on the wire.
func rawRequest(t *testing.T, s *server, head string, body []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	if body != nil {
		c.Write(body)
	}
	return c
}

func readResponse(t *testing.T, c net.Conn) (*http.Response, []byte) {
	t.Helper()
	return readResponseWithin(t, c, 10*time.Second)
}

func readResponseWithin(t *testing.T, c net.Conn, d time.Duration) (*http.Response, []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func scoreHead(id string, contentLength int, timeoutMs string) string {
	h := fmt.Sprintf("POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", contentLength)
	if timeoutMs != "" {
		h += "X-Timeout-Ms: " + timeoutMs + "\r\n"
	}
	return h + "\r\n"
}

func TestSlowBodiesHoldNoCapacity(t *testing.T) {
	lim := backpressure.New(backpressure.Options{})
	adm := &recordingAdmission{Admission: lim}
	s := start(t, options{admission: adm})
	// Forty clients send their headers and 18 bytes of a 300-byte body,
	// then nothing.
	var slow []net.Conn
	for i := range 40 {
		slow = append(slow, rawRequest(t, s, scoreHead(fmt.Sprint("slow-", i), 300, ""), []byte(`{"transaction_id":`)))
	}
	// Meanwhile everyone else is served.
	for i := range 50 {
		tx := validTx(fmt.Sprint("meanwhile-", i))
		if r := s.score(t, tx); r.status != http.StatusOK {
			t.Fatalf("request %d while 40 bodies dribble: %d %s", i, r.status, r.body)
		}
	}
	// The slow ones time out at their budget, with a 408 and nothing stored.
	for _, c := range slow {
		resp, b := readResponse(t, c)
		if resp.StatusCode != http.StatusRequestTimeout || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("a body that never came: %d %s, want a 408 problem", resp.StatusCode, b)
		}
	}
	// The limiter never saw them: only the fifty served took a slot, and
	// none reported congestion.
	st := lim.Stats()
	if st.Shed != 0 || st.Admitted != 50 || st.InFlight != 0 || adm.releases.Load() != 50 || adm.drops.Load() != 0 {
		t.Errorf("limiter after slow clients: %+v, %d releases, %d drops; want 50 admitted and released, none shed or dropped",
			st, adm.releases.Load(), adm.drops.Load())
	}
}

func TestABodyLateForTheBudgetIsRefusedInTime(t *testing.T) {
	s := start(t, options{})
	tx, _ := json.Marshal(validTx("late-body"))
	for _, timeout := range []string{"100", ""} { // X-Timeout-Ms 100, then the 2 s default
		c := rawRequest(t, s, scoreHead("late-body", len(tx), timeout), tx[:10])
		began := time.Now()
		// The rest of the body never comes: the answer must, by itself.
		resp, b := readResponse(t, c)
		took := time.Since(began)
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("X-Timeout-Ms %q: %d %s, want 408", timeout, resp.StatusCode, b)
		}
		budget := 2 * time.Second
		if timeout == "100" {
			budget = 100 * time.Millisecond
		}
		if took > budget+time.Second {
			t.Errorf("X-Timeout-Ms %q: answered after %v, long past the %v budget", timeout, took, budget)
		}
	}
	// Nothing was stored: the whole body, sent in time, is a new scoring.
	if r := s.do(t, http.MethodPost, "/score", tx, nil); r.status != http.StatusOK || r.result(t).Duplicate || r.result(t).Degraded {
		t.Errorf("the transaction sent in time afterwards: %d %s, want a full, new answer", r.status, r.body)
	}
}

func TestVelocityPathIsDecodedOnce(t *testing.T) {
	s := start(t, options{})
	tx := validTx("enc-1")
	tx["card_id"] = "card%2Fx"
	if r := s.score(t, tx); r.status != http.StatusOK {
		t.Fatal(r.status, string(r.body))
	}
	for _, tt := range []struct {
		path, card string
		count      float64
	}{
		{"/cards/card%252Fx/velocity", "card%2Fx", 1},
		{"/cards/card%2Fx/velocity", "card/x", 0},
	} {
		r := s.do(t, http.MethodGet, tt.path, nil, nil)
		var v struct {
			CardID   string `json:"card_id"`
			Features fraud.Features
		}
		json.Unmarshal(r.body, &v)
		if n, _ := v.Features.Get("card_tx_count_24h"); r.status != 200 || v.CardID != tt.card || n != tt.count {
			t.Errorf("GET %s: %d card %q count %v, want card %q count %v", tt.path, r.status, v.CardID, n, tt.card, tt.count)
		}
	}
}

func TestNetHTTPsOwnErrorsAreProblems(t *testing.T) {
	s := start(t, options{})
	for _, tt := range []struct {
		name string
		head string
		want int
	}{
		{"a malformed header line", "GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", http.StatusBadRequest},
		{"headers over the limit", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"an unknown transfer coding", "POST /score HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: rot13\r\n\r\n", http.StatusNotImplemented},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := rawRequest(t, s, tt.head, nil)
			resp, b := readResponse(t, c)
			var p api.Problem
			if resp.StatusCode != tt.want || resp.Header.Get("Content-Type") != "application/problem+json" ||
				json.Unmarshal(b, &p) != nil || p.Status != tt.want || p.Type == "" {
				t.Errorf("%d %q %s, want a %d problem+json", resp.StatusCode, resp.Header.Get("Content-Type"), b, tt.want)
			}
		})
	}
	if r := s.do(t, http.MethodGet, "/healthz", nil, nil); r.status != http.StatusOK {
		t.Errorf("healthz afterwards: %d", r.status)
	}
}

func TestCardNumbersAndLooseJSONAreRefused(t *testing.T) {
	s := start(t, options{})
	w := newWitness(t, s)
	now := time.Now().UTC().Format(time.RFC3339)
	body := func(fields string) []byte {
		return []byte(`{"transaction_id":"j-` + strconv.FormatInt(time.Now().UnixNano(), 36) + `","card_id":"card_j","amount":100,"currency":"USD","event_time":"` + now + `"` + fields + `}`)
	}
	replace := func(field, value string) []byte {
		var m map[string]any
		json.Unmarshal(body(""), &m)
		m[field] = value
		b, _ := json.Marshal(m)
		return b
	}
	for _, tt := range []struct {
		name  string
		give  []byte
		field string
	}{
		{"card number with dots", replace("card_id", "4111.1111.1111.1111"), "card_id"},
		{"card number with underscores", replace("card_id", "4111_1111_1111_1111"), "card_id"},
		{"card number with no-break spaces", replace("card_id", "4111\u00a01111\u00a01111\u00a01111"), "card_id"},
		{"card number after a prefix", replace("card_id", "pan:4111111111111111"), "card_id"},
		{"card number in full-width digits", replace("card_id", "４１１１１１１１１１１１１１１１"), "card_id"},
		{"card number as the transaction id", replace("transaction_id", "4111111111111111"), "transaction_id"},
		{"card number as the merchant", replace("merchant_id", "m 4111-1111-1111-1111"), "merchant_id"},
		{"card number as the device", replace("device_id", "4111111111111111"), "device_id"},
		{"a name given twice", body(`,"amount":5`), "amount"},
		{"invalid UTF-8 in card_id", []byte(strings.Replace(string(body("")), `"card_j"`, "\"card_\xff\"", 1)), "card_id"},
		{"invalid UTF-8 in merchant_id", body(",\"merchant_id\":\"m\xfe\""), "merchant_id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, http.MethodPost, "/score", tt.give, nil)
			if r.status != http.StatusBadRequest || fmt.Sprint(fieldsOf(r.problem(t))) != "["+tt.field+"]" {
				t.Fatalf("%d %s, want 400 naming %s", r.status, r.body, tt.field)
			}
			if strings.Contains(strings.NewReplacer(".", "", "_", "", " ", "", "-", "").Replace(string(r.body)), "4111111111111111") {
				t.Errorf("the answer echoes the card number: %s", r.body)
			}
		})
	}
	t.Run("a card number in the velocity path", func(t *testing.T) {
		r := s.do(t, http.MethodGet, "/cards/pan:4111111111111111/velocity", nil, nil)
		if r.status != http.StatusBadRequest || strings.Contains(string(r.body), "4111") {
			t.Errorf("%d %s, want 400 without the number", r.status, r.body)
		}
	})
	t.Run("keys in another case do not override the real ones", func(t *testing.T) {
		r := s.do(t, http.MethodPost, "/score", body(`,"AMOUNT":900000,"Card_ID":"card_other"`), nil)
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		res := r.result(t)
		if v, _ := res.Features.Get("card_amount_sum_1h"); v != 100 {
			t.Errorf("card_amount_sum_1h = %v: AMOUNT overrode amount", v)
		}
		if n, _ := s.velocity(t, "card_other", time.Now()).Get("card_tx_count_24h"); n != 0 {
			t.Error("Card_ID overrode card_id")
		}
	})
	w.unchanged(t)
}

// shedAll is admission control at capacity: every Precheck sheds.
type shedAll struct{ prechecks, acquires atomic.Int64 }

func (a *shedAll) Precheck(context.Context) error {
	a.prechecks.Add(1)
	return backpressure.ErrShed
}
func (a *shedAll) Acquire(context.Context) (func(bool), error) {
	a.acquires.Add(1)
	return nil, backpressure.ErrShed
}
func (a *shedAll) WriteShed(w http.ResponseWriter, err error) {
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(http.StatusServiceUnavailable)
	io.WriteString(w, `{"type":"urn:fraudscore:problem:service-unavailable","title":"Service Unavailable","status":503,"detail":"shed"}`)
}

// TestShedRequestBodyIsNeverRead: a request shed by admission control is
// answered from its headers alone. Its body is never sent here: had the
// server waited to read it, the answer would be a 408 at the deadline.
func TestShedRequestBodyIsNeverRead(t *testing.T) {
	adm := &shedAll{}
	s := start(t, options{admission: adm})
	c := rawRequest(t, s, scoreHead("shed-1", 300, ""), nil)
	// Well within the server's 10 s read timeout, which a server waiting
	// for the body would reach first.
	resp, b := readResponseWithin(t, c, 5*time.Second)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("%d %s, want a 503 with Retry-After before any body", resp.StatusCode, b)
	}
	if adm.prechecks.Load() != 1 || adm.acquires.Load() != 0 {
		t.Errorf("prechecks %d acquires %d: want the request refused before its body, by the precheck alone", adm.prechecks.Load(), adm.acquires.Load())
	}
}

// recordingAdmission passes through to a real limiter and records what
// each release reports.
type recordingAdmission struct {
	api.Admission
	releases, drops atomic.Int64
}

func (a *recordingAdmission) Acquire(ctx context.Context) (func(bool), error) {
	release, err := a.Admission.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return func(dropped bool) {
		a.releases.Add(1)
		if dropped {
			a.drops.Add(1)
		}
		release(dropped)
	}, nil
}

// TestClientMistakesAreNotCongestion: conflicts (422) tell the limiter
// nothing about concurrency; reporting them as drops would let one
// careless client shrink the limit for everyone.
func TestClientMistakesAreNotCongestion(t *testing.T) {
	adm := &recordingAdmission{Admission: backpressure.New(backpressure.Options{})}
	s := start(t, options{admission: adm})
	tx := validTx("reused")
	if r := s.score(t, tx); r.status != http.StatusOK {
		t.Fatal(r.status, string(r.body))
	}
	for i := range 50 {
		tx["amount"] = 5000 + i
		if r := s.score(t, tx); r.status != http.StatusUnprocessableEntity {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	if adm.releases.Load() != 51 || adm.drops.Load() != 0 {
		t.Errorf("%d releases with %d drops, want 51 and none", adm.releases.Load(), adm.drops.Load())
	}
}

// blockingModel blocks every call until its deadline, counting how many
// run at once.
type blockingModel struct{ inside, most atomic.Int64 }

func (m *blockingModel) Version() string { return "blocking" }
func (m *blockingModel) Predict(ctx context.Context, in model.Input) (model.Prediction, error) {
	n := m.inside.Add(1)
	defer m.inside.Add(-1)
	for {
		c := m.most.Load()
		if n <= c || m.most.CompareAndSwap(c, n) {
			break
		}
	}
	<-ctx.Done()
	return model.Prediction{}, ctx.Err()
}

// TestClientsThatHangUpStillCountAgainstTheLimit: a scoring goes on after
// its client hangs up (it must end to keep state consistent), and keeps its
// admission slot until it does, so hanging up cannot start more work than
// the limit allows.
func TestClientsThatHangUpStillCountAgainstTheLimit(t *testing.T) {
	lim := backpressure.New(backpressure.Options{Static: true, InitialLimit: 4})
	m := &blockingModel{}
	s := start(t, options{admission: lim, model: m})
	for i := range 40 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		b := fmt.Sprintf(`{"transaction_id":"gone-%d","card_id":"card_g%d","amount":1,"currency":"USD","event_time":%q}`,
			i, i, time.Now().UTC().Format(time.RFC3339))
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/score", strings.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Timeout-Ms", "200")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		cancel()
	}
	deadline := time.Now().Add(10 * time.Second)
	for lim.Stats().InFlight > 0 || m.inside.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("scorings still running 10 s later")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := m.most.Load(); got > 4 {
		t.Errorf("%d scorings ran at once behind an admission limit of 4", got)
	}
}
