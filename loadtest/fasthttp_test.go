package loadtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fraudscore/scorer/fraud"
)

// countingServer is an httptest server that counts the connections it
// accepted.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	n := &atomic.Int64{}
	srv.Listener = &countingListener{Listener: srv.Listener, n: n}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, n
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func newFast(t *testing.T, cfg HTTPConfig) *FastHTTPTarget {
	t.Helper()
	f, err := NewFastHTTPTarget(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

func testEvent(id string) *Event {
	return &Event{Tx: fraud.Transaction{ID: id, CardID: "card_000000000042", Amount: 1250, Currency: "USD",
		EventTime: time.Date(2026, 2, 3, 4, 5, 6, 7, time.UTC), Country: "US", Channel: "pos"}}
}

func TestFastTargetRefusesWhatItCannotSpeak(t *testing.T) {
	for _, cfg := range []HTTPConfig{
		{BaseURL: "https://127.0.0.1:8443"},
		{BaseURL: "127.0.0.1:8080"},
		{BaseURL: "http://127.0.0.1:8080?x=1"},
		{BaseURL: "http://127.0.0.1:8080", Token: "abc\r\nX-Evil: 1"},
	} {
		if _, err := NewFastHTTPTarget(cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

func TestFastTargetSendsTheRequest(t *testing.T) {
	type seen struct {
		method, path, host, ctype, auth, timeout string
		length                                   int64
		tx                                       fraud.Transaction
		err                                      error
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{method: r.Method, path: r.URL.Path, host: r.Host, ctype: r.Header.Get("Content-Type"),
			auth: r.Header.Get("Authorization"), timeout: r.Header.Get("X-Timeout-Ms"), length: r.ContentLength}
		raw, err := io.ReadAll(r.Body)
		if s.err = err; err == nil {
			s.tx, s.err = fraud.DecodeTransaction(raw, fraud.Limits{})
		}
		got <- s
		w.Write([]byte(`{"decision":"approve"}`))
	}))
	defer srv.Close()
	ev := testEvent("tx-headers-1")
	want, _ := json.Marshal(&ev.Tx)

	t.Run("with a token and a server timeout", func(t *testing.T) {
		f := newFast(t, HTTPConfig{BaseURL: srv.URL + "/api/", Token: "s3cret", TimeoutMs: 40})
		if out := f.Send(context.Background(), ev); !out.OK {
			t.Fatalf("outcome %+v", out)
		}
		s := <-got
		if s.err != nil {
			t.Fatal(s.err)
		}
		host := strings.TrimPrefix(srv.URL, "http://")
		if s.method != "POST" || s.path != "/api/score" || s.host != host || s.ctype != "application/json" ||
			s.auth != "Bearer s3cret" || s.timeout != "40" || s.length != int64(len(want)) {
			t.Errorf("server saw %+v, want POST /api/score, Host %s, JSON, Bearer s3cret, X-Timeout-Ms 40, length %d",
				s, host, len(want))
		}
		tx := ev.Tx
		if !s.tx.EventTime.Equal(tx.EventTime) {
			t.Errorf("event_time %v, want %v", s.tx.EventTime, tx.EventTime)
		}
		s.tx.EventTime, tx.EventTime = time.Time{}, time.Time{}
		if s.tx != tx {
			t.Errorf("server decoded %+v, want %+v", s.tx, tx)
		}
	})
	t.Run("without them", func(t *testing.T) {
		f := newFast(t, HTTPConfig{BaseURL: srv.URL})
		if out := f.Send(context.Background(), ev); !out.OK {
			t.Fatalf("outcome %+v", out)
		}
		s := <-got
		if s.auth != "" || s.timeout != "" || s.path != "/score" {
			t.Errorf("server saw %+v, want no Authorization, no X-Timeout-Ms, /score", s)
		}
	})
}

func TestFastTargetKeepsConnectionsAlive(t *testing.T) {
	srv := newRawServer(t, fixedAnswer(answer200))
	f := newFast(t, HTTPConfig{BaseURL: srv.url})
	for i := range 200 {
		out := f.Send(context.Background(), testEvent(fmt.Sprint("seq-", i)))
		if out != (Outcome{Status: "200", OK: true, Decision: fraud.Approve}) {
			t.Fatalf("send %d: %+v", i, out)
		}
	}
	if n := srv.accepts.Load(); n != 1 {
		t.Fatalf("200 sends one after another dialled %d connections, want 1", n)
	}
	const workers = 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range 100 {
				if out := f.Send(context.Background(), testEvent(fmt.Sprint("par-", w, "-", i))); !out.OK {
					t.Errorf("worker %d send %d: %+v", w, i, out)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := srv.accepts.Load(); n > 1+workers {
		t.Errorf("%d workers dialled %d connections in all, want at most one each", workers, n)
	}
}

func TestFastTargetConnectionClose(t *testing.T) {
	t.Run("an answer with Connection: close", func(t *testing.T) {
		srv, accepts := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			w.Write([]byte(`{"decision":"review"}`))
		}))
		f := newFast(t, HTTPConfig{BaseURL: srv.URL})
		for i := range 20 {
			if out := f.Send(context.Background(), testEvent(fmt.Sprint("close-", i))); out.Decision != fraud.Review {
				t.Fatalf("send %d: %+v", i, out)
			}
		}
		if n := accepts.Load(); n != 20 {
			t.Errorf("%d connections for 20 answers that each closed theirs", n)
		}
	})
	t.Run("an HTTP/1.0 answer, its body ended by the close", func(t *testing.T) {
		srv := newRawServer(t, func(_ *rawRequest, w *bufio.Writer) bool {
			w.WriteString("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"decision\": \"decline\"}")
			return false
		})
		f := newFast(t, HTTPConfig{BaseURL: srv.url})
		for i := range 5 {
			if out := f.Send(context.Background(), testEvent(fmt.Sprint("h10-", i))); out != (Outcome{Status: "200", OK: true, Decision: fraud.Decline}) {
				t.Fatalf("send %d: %+v", i, out)
			}
		}
		if n := srv.accepts.Load(); n != 5 {
			t.Errorf("%d connections for 5 HTTP/1.0 answers", n)
		}
	})
}

func TestFastTargetRetriesOnceWhenAnIdleConnectionWasClosed(t *testing.T) {
	// The server answers, then closes the connection as if it idled too
	// long; the client learns of it only when it sends the next request.
	idleClosed := make(chan struct{}, 1)
	var requests atomic.Int64
	srv := startRawServer(t, &rawServer{
		handle: func(req *rawRequest, w *bufio.Writer) bool {
			requests.Add(1)
			w.WriteString(answer200)
			return false
		},
		onClose: func() { idleClosed <- struct{}{} },
	})
	f := newFast(t, HTTPConfig{BaseURL: srv.url})
	const sends = 10
	for i := range sends {
		out := f.Send(context.Background(), testEvent(fmt.Sprint("idle-", i)))
		if out != (Outcome{Status: "200", OK: true, Decision: fraud.Approve}) {
			t.Fatalf("send %d: %+v, want the answer, after a transparent retry", i, out)
		}
		<-idleClosed // the server has closed the connection the client keeps
	}
	if n, r := srv.accepts.Load(), requests.Load(); n != sends || r != sends {
		t.Errorf("%d connections and %d requests answered, want %d of each: one retry per send but the first", n, r, sends)
	}
}

func TestFastTargetDoesNotRetry(t *testing.T) {
	t.Run("after a byte of the answer", func(t *testing.T) {
		srv := newRawServer(t, func(req *rawRequest, w *bufio.Writer) bool {
			if req.N == 0 {
				w.WriteString(answer200)
				return true
			}
			w.WriteString("HTTP/1.1 200 OK\r\nContent-Le")
			return false
		})
		f := newFast(t, HTTPConfig{BaseURL: srv.url})
		if out := f.Send(context.Background(), testEvent("partial-0")); !out.OK {
			t.Fatalf("first send: %+v", out)
		}
		out := f.Send(context.Background(), testEvent("partial-1"))
		if out.Status != "error" || out.OK || !strings.Contains(out.Err, "unexpected EOF") {
			t.Errorf("a cut answer gave %+v, want an error", out)
		}
		if n := srv.accepts.Load(); n != 1 {
			t.Errorf("%d connections: the request was sent again after part of its answer", n)
		}
		if out := f.Send(context.Background(), testEvent("partial-2")); !out.OK {
			t.Errorf("the next send, on a new connection: %+v", out)
		}
	})
	t.Run("on a new connection", func(t *testing.T) {
		srv := newRawServer(t, func(req *rawRequest, w *bufio.Writer) bool { return false })
		f := newFast(t, HTTPConfig{BaseURL: srv.url})
		out := f.Send(context.Background(), testEvent("fresh-0"))
		if out.Status != "error" || out.Err == "" || strings.Contains(out.Err, "fresh-0") {
			t.Errorf("a closed new connection gave %+v, want an error without the request", out)
		}
		if n := srv.accepts.Load(); n != 1 {
			t.Errorf("%d connections: a request that failed on a new connection was sent again", n)
		}
	})
}

func TestFastTargetTimeouts(t *testing.T) {
	// The server answers the first request of a connection, and never the
	// second: the client must give up, close that connection and dial
	// another for the next request.
	got := make(chan string, 10)
	srv := newRawServer(t, func(req *rawRequest, w *bufio.Writer) bool {
		var tx fraud.Transaction
		json.Unmarshal(req.Body, &tx)
		got <- tx.ID
		if req.N == 0 {
			w.WriteString(answer200)
			return true
		}
		<-req.Done
		return false
	})

	t.Run("the client timeout", func(t *testing.T) {
		f := newFast(t, HTTPConfig{BaseURL: srv.url, Timeout: 50 * time.Millisecond})
		if out := f.Send(context.Background(), testEvent("t-0")); !out.OK {
			t.Fatalf("first send: %+v", out)
		}
		<-got
		out := f.Send(context.Background(), testEvent("t-1"))
		if out.Status != "error" || !strings.Contains(out.Err, "timeout") {
			t.Errorf("an unanswered request gave %+v, want a timeout error", out)
		}
		if id := <-got; id != "t-1" {
			t.Fatalf("server got %q", id)
		}
		before := srv.accepts.Load()
		if out := f.Send(context.Background(), testEvent("t-2")); !out.OK {
			t.Errorf("the send after a timeout: %+v", out)
		}
		<-got
		if n := srv.accepts.Load(); n != before+1 {
			t.Errorf("%d new connections after a timeout, want 1: a timed-out connection is not reused", n-before)
		}
	})

	t.Run("a cancelled context", func(t *testing.T) {
		f := newFast(t, HTTPConfig{BaseURL: srv.url, Timeout: time.Hour})
		if out := f.Send(context.Background(), testEvent("c-0")); !out.OK {
			t.Fatalf("first send: %+v", out)
		}
		<-got
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan Outcome)
		go func() { done <- f.Send(ctx, testEvent("c-1")) }()
		<-got // the request is with the server, which will not answer
		cancel()
		out := <-done
		if out.Status != "error" || !strings.Contains(out.Err, "context canceled") {
			t.Errorf("a cancelled send gave %+v", out)
		}
		if out := f.Send(ctx, testEvent("c-2")); out.Status != "error" {
			t.Errorf("a send with a cancelled context gave %+v", out)
		}
		before := srv.accepts.Load()
		if out := f.Send(context.Background(), testEvent("c-3")); !out.OK {
			t.Errorf("the send after a cancel: %+v", out)
		}
		<-got
		if n := srv.accepts.Load(); n != before+1 {
			t.Errorf("%d new connections after a cancel, want 1", n-before)
		}
	})

	t.Run("the context's deadline", func(t *testing.T) {
		f := newFast(t, HTTPConfig{BaseURL: srv.url, Timeout: time.Hour})
		if out := f.Send(context.Background(), testEvent("d-0")); !out.OK {
			t.Fatalf("first send: %+v", out)
		}
		<-got
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if out := f.Send(ctx, testEvent("d-1")); out.Status != "error" || !strings.Contains(out.Err, "deadline exceeded") {
			t.Errorf("a send past its context's deadline gave %+v", out)
		}
		<-got
	})
}

func TestFastTargetChunkedAnswers(t *testing.T) {
	problem := "{\"type\":\"about:blank\",\n  \"title\":\"overloaded\",\n  \"status\":503}"
	srv, accepts := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var tx fraud.Transaction
		json.NewDecoder(r.Body).Decode(&tx)
		fl := w.(http.Flusher)
		if strings.HasPrefix(tx.ID, "shed") {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			for _, part := range strings.SplitAfter(problem, "\n") {
				io.WriteString(w, part)
				fl.Flush() // each flush is a chunk
			}
			return
		}
		for _, part := range []string{`{"transaction_id":"x",`, `"decision":"dec`, `line","score":0.9}`} {
			io.WriteString(w, part)
			fl.Flush()
		}
	}))
	f := newFast(t, HTTPConfig{BaseURL: srv.URL})
	for i := range 3 {
		if out := f.Send(context.Background(), testEvent(fmt.Sprint("ok-", i))); out != (Outcome{Status: "200", OK: true, Decision: fraud.Decline}) {
			t.Fatalf("send %d: %+v, want the decision split across chunks", i, out)
		}
		want := Outcome{Status: "503", Err: "status 503: " + sample([]byte(problem))}
		if out := f.Send(context.Background(), testEvent(fmt.Sprint("shed-", i))); out != want {
			t.Fatalf("send %d: %+v, want %+v", i, out, want)
		}
	}
	if n := accepts.Load(); n != 1 {
		t.Errorf("%d connections: a chunked answer left the connection out of step", n)
	}

	t.Run("extensions, upper-case sizes and trailers", func(t *testing.T) {
		body := `{"decision":"review"}`
		srv := newRawServer(t, fixedAnswer("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"+
			"A;name=value\r\n"+body[:10]+"\r\n"+fmt.Sprintf("%X \t; x\r\n", len(body)-10)+body[10:]+"\r\n"+
			"0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"))
		f := newFast(t, HTTPConfig{BaseURL: srv.url})
		for i := range 3 {
			if out := f.Send(context.Background(), testEvent(fmt.Sprint("ext-", i))); out != (Outcome{Status: "200", OK: true, Decision: fraud.Review}) {
				t.Fatalf("send %d: %+v", i, out)
			}
		}
		if n := srv.accepts.Load(); n != 1 {
			t.Errorf("%d connections for 3 chunked answers", n)
		}
	})
}

func TestFastTargetAnswers(t *testing.T) {
	long := strings.Repeat("x", 5000)
	big := `{"decision":"review","pad":"` + strings.Repeat("p", 2<<20) + `"}`
	cases := []struct {
		name   string
		answer string
		want   Outcome
		errHas string // for a transport error
	}{
		{"200 with a decision", answer("200 OK", `{"transaction_id":"a","score":0.5,"decision":"review"}`),
			Outcome{Status: "200", OK: true, Decision: fraud.Review}, ""},
		{"200 with spaces around the colon", answer("200 OK", "{\"decision\" :\n \"decline\"}"),
			Outcome{Status: "200", OK: true, Decision: fraud.Decline}, ""},
		{"200 without a decision", answer("200 OK", `{"ok":true}`), Outcome{Status: "200", OK: true}, ""},
		{"201: a success without a decision read", answer("201 Created", `{"decision":"approve"}`), Outcome{Status: "201", OK: true}, ""},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", Outcome{Status: "204", OK: true}, ""},
		{"no reason phrase, bare LF, lower-case names", "HTTP/1.1 200\ncontent-length: 22\n\n{\"decision\":\"approve\"}",
			Outcome{Status: "200", OK: true, Decision: fraud.Approve}, ""},
		{"interim answers are skipped", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" +
			answer("200 OK", `{"decision":"approve"}`), Outcome{Status: "200", OK: true, Decision: fraud.Approve}, ""},
		{"503 with a problem body", answer("503 Service Unavailable", "{\"title\": \"overloaded\",\n\t\"status\": 503}"),
			Outcome{Status: "503", Err: `status 503: {"title": "overloaded", "status": 503}`}, ""},
		{"400 sampled", answer("400 Bad Request", `{"errors":[{"field":"card_id","message":"looks like a raw card number"}]}`),
			Outcome{Status: "400", Err: `status 400: {"errors":[{"field":"card_id","message":"looks like a raw card number"}]}`}, ""},
		{"a long body is cut in the sample", answer("500 Internal Server Error", long),
			Outcome{Status: "500", Err: "status 500: " + long[:200] + "..."}, ""},
		{"429 without a body", "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n",
			Outcome{Status: "429", Err: "status 429: "}, ""},
		{"a body over 1 MiB is read to 1 MiB", answer("200 OK", big), Outcome{Status: "200", OK: true, Decision: fraud.Review}, ""},
		{"not HTTP", "SSH-2.0-OpenSSH_9.6\r\n\r\n", Outcome{}, "malformed"},
		{"a bad status code", "HTTP/1.1 2x0 OK\r\n\r\n", Outcome{}, "malformed"},
		{"a bad Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n", Outcome{}, "Content-Length"},
		{"two Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", Outcome{}, "Content-Length"},
		{"an unknown transfer encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", Outcome{}, "transfer encoding"},
		{"a bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", Outcome{}, "chunked"},
		{"a chunk without its line end", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}xx0\r\n\r\n", Outcome{}, "chunked"},
		{"a header line too long", "HTTP/1.1 200 OK\r\nX-Long: " + long + "\r\n\r\n", Outcome{}, "too large"},
		{"101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", Outcome{}, "101"},
	}
	byID := map[string]string{}
	for i, c := range cases {
		byID[fmt.Sprint("case-", i)] = c.answer
	}
	srv := newRawServer(t, func(req *rawRequest, w *bufio.Writer) bool {
		var tx fraud.Transaction
		json.Unmarshal(req.Body, &tx)
		w.WriteString(byID[tx.ID])
		return true
	})
	f := newFast(t, HTTPConfig{BaseURL: srv.url})
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := f.Send(context.Background(), testEvent(fmt.Sprint("case-", i)))
			if c.errHas != "" {
				if out.Status != "error" || out.OK || !strings.Contains(out.Err, c.errHas) {
					t.Errorf("outcome %+v, want an error about %q", out, c.errHas)
				}
				return
			}
			if out != c.want {
				t.Errorf("outcome\n %+v\nwant\n %+v", out, c.want)
			}
		})
	}
}

func TestFindDecision(t *testing.T) {
	for _, c := range []struct {
		body string
		want fraud.Decision
	}{
		{`{"decision":"approve"}`, fraud.Approve},
		{`{"score":1,"decision":"decline","reasons":[]}`, fraud.Decline},
		{"{\"decision\"\t:\r\n\"review\"}", fraud.Review},
		{`{"note":"a \"decision\":\"approve\" in a string","decision":"review"}`, fraud.Review},
		{`{"decisions":["x"],"decision":"approve"}`, fraud.Approve},
		{`{"decision":"hold"}`, "hold"},
		{`{"decision":null}`, ""},
		{`{"decision":"appr\u006fve"}`, ""},
		{`{"decision":"approve`, ""},
		{`{"decision"`, ""},
		{``, ""},
	} {
		if got := findDecision([]byte(c.body)); got != c.want {
			t.Errorf("findDecision(%s) = %q, want %q", c.body, got, c.want)
		}
	}
}

// TestFastTargetMatchesStd sends the same events through both clients to a
// server of varied answers: the outcomes must be the same.
func TestFastTargetMatchesStd(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var tx fraud.Transaction
		if err := json.NewDecoder(r.Body).Decode(&tx); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		d := fraud.Approve
		switch {
		case tx.Amount >= 500000 || tx.Status.Failed():
			d = fraud.Decline
		case tx.Country != "US":
			d = fraud.Review
		}
		switch tx.Amount % 11 {
		case 0:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"type":"about:blank","title":"overloaded","status":503,"detail":"the queue is full"}`)
		case 1:
			http.Error(w, "invalid transaction:\n card_id: looks like a raw card number", http.StatusBadRequest)
		case 2:
			w.WriteHeader(http.StatusTooManyRequests)
		case 3: // chunked
			io.WriteString(w, `{"transaction_id":`+strconvQuote(tx.ID)+`,`)
			w.(http.Flusher).Flush()
			io.WriteString(w, `"decision":"`+string(d)+`"}`)
		case 4:
			w.WriteHeader(http.StatusNoContent)
		case 5:
			w.Header().Set("Connection", "close")
			json.NewEncoder(w).Encode(map[string]any{"decision": d})
		case 6:
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, strings.Repeat("stack  trace\n\t", 40))
		case 7:
			io.WriteString(w, "{ \"decision\" : \""+string(d)+"\" }")
		case 8:
			io.WriteString(w, "ok")
		default:
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(fraud.Result{TransactionID: tx.ID, Score: 0.25, Decision: d, Reasons: []fraud.Reason{}})
		}
	}))
	defer srv.Close()
	cfg := HTTPConfig{BaseURL: srv.URL, Token: "t", TimeoutMs: 100}
	std := NewHTTPTarget(cfg)
	defer std.Close()
	fast := newFast(t, cfg)
	gen := NewGenerator(GeneratorConfig{Seed: 3, Cards: 2000, FraudRate: 0.1, RunID: "eq"})
	statuses := map[string]int{}
	for i := range 400 {
		ev, _ := gen.Next()
		want := std.Send(context.Background(), &ev)
		got := fast.Send(context.Background(), &ev)
		if got != want {
			t.Errorf("event %d (%s, amount %d):\nfast %+v\n std %+v", i, ev.Tx.ID, ev.Tx.Amount, got, want)
		}
		statuses[got.Status]++
	}
	if len(statuses) < 6 || statuses["error"] > 0 {
		t.Errorf("statuses %v: want the variety of answers and no errors", statuses)
	}
}

func strconvQuote(s string) string { return string(fraud.AppendString(nil, s)) }

func TestFastTargetConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	f := newFast(t, HTTPConfig{BaseURL: "http://" + addr, Timeout: 5 * time.Second})
	for i := range 3 {
		out := f.Send(context.Background(), testEvent(fmt.Sprint("refused-", i)))
		if out.Status != "error" || out.OK || !strings.Contains(out.Err, "refused") {
			t.Errorf("send %d: %+v, want a connection error", i, out)
		}
	}
}
