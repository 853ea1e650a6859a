package backpressure

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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
	t.Run("without a deadline the request gets arrival + budget", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/score", strings.NewReader(`{}`))
		rec := httptest.NewRecorder()
		var left time.Duration
		l.Middleware(300*time.Millisecond)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			dl, ok := r.Context().Deadline()
			if !ok {
				t.Fatal("an admitted request has no deadline")
			}
			left = time.Until(dl)
		})).ServeHTTP(rec, req)
		if left <= 0 || left > 300*time.Millisecond {
			t.Errorf("deadline %v away, want within the 300ms budget", left)
		}
	})
	t.Run("the deadline set upstream is kept", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		want, _ := ctx.Deadline()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/score", strings.NewReader(`{}`))
		rec := httptest.NewRecorder()
		l.Middleware(2*time.Second)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if got, _ := r.Context().Deadline(); !got.Equal(want) {
				t.Errorf("deadline %v, want the request's %v", got, want)
			}
		})).ServeHTTP(rec, req)
	})
	t.Run("less than MinBudget left is shed before the handler", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/score", strings.NewReader(`{}`))
		rec := httptest.NewRecorder()
		before := l.Stats().ShedByReason[ReasonBudget]
		l.Middleware(2*time.Second)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t.Error("admitted with 1ms left")
		})).ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503", rec.Code)
		}
		if got := l.Stats().ShedByReason[ReasonBudget] - before; got != 1 {
			t.Errorf("budget sheds %d, want 1", got)
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
