package backpressure

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func post(t *testing.T, url, timeoutMs string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if timeoutMs != "" {
		req.Header.Set("X-Timeout-Ms", timeoutMs)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestMiddlewareSheds(t *testing.T) {
	l := New(Options{Static: true, InitialLimit: 1, MaxWait: -1, RetryAfter: 1500 * time.Millisecond})
	entered, unblock := make(chan struct{}, 1), make(chan struct{})
	var reached int
	srv := httptest.NewServer(l.Middleware(2 * time.Second)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		entered <- struct{}{}
		<-unblock
		w.Write([]byte("ok"))
	})))
	defer srv.Close()

	first := make(chan int, 1)
	go func() {
		resp, _ := post(t, srv.URL, "")
		first <- resp.StatusCode
	}()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("first request never reached the handler")
	}

	resp, body := post(t, srv.URL, "")
	close(unblock)
	if got := <-first; got != http.StatusOK {
		t.Errorf("first request: status %d, want 200", got)
	}
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second request: status %d, want 503", resp.StatusCode)
	}
	if got, want := resp.Header.Get("Retry-After"), "2"; got != want {
		t.Errorf("Retry-After = %q, want %q (1.5s rounded up)", got, want)
	}
	if got, want := resp.Header.Get("Content-Type"), "application/problem+json"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	var p struct {
		Type, Title, Detail string
		Status              int
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if p.Status != 503 || p.Type != "urn:fraudscore:problem:service-unavailable" || p.Title == "" || p.Detail == "" {
		t.Errorf("problem = %+v, want status 503, api's 503 type, a title and a detail", p)
	}
	if reached != 1 {
		t.Errorf("handler ran %d times, want once: a shed request must not reach it", reached)
	}
	if s := l.Stats(); s.ShedByReason[ReasonLimit] != 1 {
		t.Errorf("stats = %+v, want one shed for %q", s, ReasonLimit)
	}
}

func TestMiddlewareBudget(t *testing.T) {
	l := New(Options{})
	handler := l.Middleware(2 * time.Second)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An admitted request's budget counts from arrival: the middleware
		// puts its deadline on the context; an unmetered one gets none.
		dl, ok := r.Context().Deadline()
		h := r.Header.Get("X-Timeout-Ms")
		if ms, err := strconv.Atoi(h); h == "" || (err == nil && ms >= 1) {
			if !ok {
				t.Error("an admitted request has no deadline")
			} else if time.Until(dl) > 2*time.Second {
				t.Errorf("deadline %s away, beyond the budget", time.Until(dl))
			}
		} else if ok {
			t.Error("an unmetered request got a deadline")
		}
		if r.Header.Get("X-Timeout-Ms") == "soon" {
			http.Error(w, "bad header", http.StatusBadRequest)
			return
		}
		w.Write([]byte("ok"))
	}))
	srv := httptest.NewServer(handler)
	defer srv.Close()

	for _, tt := range []struct {
		name      string
		give      string
		want      int
		wantAdmit int64
	}{
		{"X-Timeout-Ms below MinBudget is shed", "3", http.StatusServiceUnavailable, 0},
		{"X-Timeout-Ms above MinBudget is admitted", "50", http.StatusOK, 1},
		{"no X-Timeout-Ms takes the server budget", "", http.StatusOK, 1},
		{"an invalid X-Timeout-Ms is left to the handler", "soon", http.StatusBadRequest, 0},
		{"a zero X-Timeout-Ms is left to the handler", "0", http.StatusOK, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := l.Stats().Admitted
			resp, _ := post(t, srv.URL, tt.give)
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if got := l.Stats().Admitted - before; got != tt.wantAdmit {
				t.Errorf("admitted %d, want %d", got, tt.wantAdmit)
			}
		})
	}

	t.Run("a deadline on the request context wins over the header", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/score", strings.NewReader(`{}`))
		req.Header.Set("X-Timeout-Ms", "1000")
		rec := httptest.NewRecorder()
		l.Middleware(2*time.Second)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t.Error("admitted with 1ms left")
		})).ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503", rec.Code)
		}
	})
}

func TestMiddlewareCountsHandler503AsDropped(t *testing.T) {
	l := New(Options{InitialLimit: 32, Window: time.Nanosecond})
	srv := httptest.NewServer(l.Middleware(2 * time.Second)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})))
	defer srv.Close()
	for range minWindowSamples {
		post(t, srv.URL, "")
	}
	if got, want := l.Stats().Limit, 28; got != want { // int(32 * 0.9)
		t.Fatalf("limit after a window of handler 503s = %d, want %d", got, want)
	}
}
