package api_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fraudscore/scorer/api"
)

func writeTokens(t *testing.T, path string, lines string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestBearerTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	writeTokens(t, path, "# operators\nsecret-one\n\n  secret-two  \n")
	tokens, err := api.LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, options{tokens: tokens})
	body := []byte(`{"transaction_id":"auth-1","card_id":"card_a","amount":1,"currency":"USD","event_time":"2026-01-01T00:00:00Z"}`)
	tests := []struct {
		name   string
		method string
		path   string
		auth   string
		want   int
	}{
		{"missing token", "POST", "/score", "", 401},
		{"wrong token", "POST", "/score", "Bearer nope", 401},
		{"wrong scheme", "POST", "/score", "Basic c2VjcmV0LW9uZQ==", 401},
		{"right token", "POST", "/score", "Bearer secret-one", 200},
		{"second token, surrounding spaces trimmed", "POST", "/score", "Bearer secret-two", 200},
		{"velocity needs a token", "GET", "/cards/card_a/velocity", "", 401},
		{"velocity with a token", "GET", "/cards/card_a/velocity", "Bearer secret-one", 200},
		{"health is open", "GET", "/healthz", "", 200},
		{"readiness is open", "GET", "/readyz", "", 200},
		{"the spec is open", "GET", "/openapi.yaml", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b []byte
			if tt.method == "POST" {
				b = body
			}
			h := map[string]string{}
			if tt.auth != "" {
				h["Authorization"] = tt.auth
			}
			r := s.do(t, tt.method, tt.path, b, h)
			if r.status != tt.want {
				t.Fatalf("status = %d, want %d (%s)", r.status, tt.want, r.body)
			}
			if r.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}

	t.Run("reload replaces the tokens", func(t *testing.T) {
		writeTokens(t, path, "secret-three\n")
		if err := tokens.Reload(path); err != nil {
			t.Fatal(err)
		}
		if r := s.do(t, "GET", "/cards/card_a/velocity", nil, map[string]string{"Authorization": "Bearer secret-one"}); r.status != 401 {
			t.Errorf("old token after reload: %d, want 401", r.status)
		}
		if r := s.do(t, "GET", "/cards/card_a/velocity", nil, map[string]string{"Authorization": "Bearer secret-three"}); r.status != 200 {
			t.Errorf("new token after reload: %d, want 200", r.status)
		}
	})
	t.Run("a failed reload keeps the old tokens", func(t *testing.T) {
		writeTokens(t, path, "# nothing\n")
		if err := tokens.Reload(path); err == nil {
			t.Error("an empty tokens file was accepted")
		}
		if !tokens.Valid("secret-three") {
			t.Error("the old tokens were dropped")
		}
	})
}

func TestSlowHeaderClientsAreCutOff(t *testing.T) {
	srv := api.NewServer("127.0.0.1:0", http.NotFoundHandler(), time.Second)
	srv.ReadHeaderTimeout = 300 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Start a request and never finish its headers.
	if _, err := io.WriteString(conn, "POST /score HTTP/1.1\r\nHost: scorer\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(bufio.NewReader(conn))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept a slow-header connection open for 5 s")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("cut off after %s, want about the 300 ms header timeout", took)
	}
	if srv.MaxHeaderBytes == 0 || srv.ReadTimeout == 0 || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 {
		t.Errorf("server limits not all set: %+v", srv)
	}
}
