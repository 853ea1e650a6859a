package service_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fraudscore/scorer/service"
)

func TestServeScoresAndShutsDownCleanly(t *testing.T) {
	dir := t.TempDir()
	cfg := service.Config{
		HTTPAddr: "127.0.0.1:0", DataDir: dir, KafkaBrokers: "embedded", EmbeddedKafkaAddr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := service.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	if len(s.Brokers()) != 1 || strings.HasSuffix(s.Brokers()[0], ":0") {
		t.Errorf("embedded broker addresses = %v", s.Brokers())
	}
	body := `{"transaction_id":"svc-1","card_id":"card_s","amount":100,"currency":"USD","event_time":"2026-01-01T00:00:00Z"}`
	resp, err := http.Post("http://"+s.Addr()+"/score", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	select {
	case <-s.KafkaReady():
	case <-time.After(30 * time.Second):
		t.Fatal("kafka side not ready")
	}
	resp, err = http.Get("http://" + s.Addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("readyz = %d with the embedded broker up", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want a clean shutdown", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("shutdown did not finish")
	}

	// The same data dir opens again and remembers the transaction.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	s2, err := service.New(ctx2, cfg)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if _, ok, err := s2.Store().Lookup("svc-1"); err != nil || !ok {
		t.Errorf("svc-1 not remembered after restart (ok=%v err=%v)", ok, err)
	}
	go func() { done <- s2.Run(ctx2) }()
	cancel2()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
