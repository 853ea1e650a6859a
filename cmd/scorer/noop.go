package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/fraudscore/scorer/api"
)

// noopResult is what the no-op server answers: the shape of a real result.
const noopResult = `{"transaction_id":"noop","score":0.01,"decision":"approve","reasons":[],"features":{},"model_version":"noop","degraded":false,"duplicate":false,"late":false}`

// noop serves POST /score with a chi router that reads the body and
// answers a fixed result: the ceiling of the HTTP stack and of the load
// tool on this machine, for the benchmarks' service/no-op ratio.
func noop(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("noop", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("http-addr", "127.0.0.1:8081", "listen address")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	r := chi.NewRouter()
	r.Post("/score", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 64<<10))
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, noopResult)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := api.NewServer(*addr, r, 2*time.Second)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
