package service_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/fraudscore/scorer/service"
)

func TestCloseReleasesWhatNewOpened(t *testing.T) {
	cfg := service.Config{
		HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(), KafkaBrokers: "embedded", EmbeddedKafkaAddr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	s, err := service.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, broker := s.Addr(), s.Brokers()[0]
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}

	// Nothing is held any more: the same data dir (Badger's lock), HTTP
	// address and broker port open again.
	cfg.HTTPAddr, cfg.EmbeddedKafkaAddr = addr, broker
	s, err = service.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New after Close: %v", err)
	}
	if s.Addr() != addr || s.Brokers()[0] != broker {
		t.Errorf("reopened on %s with broker %s, want %s and %s", s.Addr(), s.Brokers()[0], addr, broker)
	}

	// Run releases everything itself; Close after it does nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after Run = %v, want nil", err)
	}
}

// A bad --advertised-url is refused before anything starts, and a password
// in it is not repeated in the error.
func TestAdvertisedURLIsChecked(t *testing.T) {
	for _, u := range []string{"http://u:secret@h:1", "h:8080", "ftp://h:1", "http://"} {
		s, err := service.New(context.Background(), service.Config{DataDir: t.TempDir(), KafkaBrokers: "none", AdvertisedURL: u})
		if err == nil {
			s.Close()
			t.Errorf("New with --advertised-url %q succeeded, want it refused", u)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("the error %q repeats the password", err)
		}
	}
}
