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

// noopModelResult is what its model endpoint answers (Open Inference
// Protocol), a low fraud probability.
const noopModelResult = `{"model_name":"noop","model_version":"1","outputs":[{"name":"probability","shape":[1,1],"datatype":"FP64","data":[0.05]}]}`

// noop serves POST /score with a chi router that reads the body and
// answers a fixed result: the ceiling of the HTTP stack and of the load
// tool on this machine, for the benchmarks' service/no-op ratio. It also
// serves POST /v2/models/{name}/infer as a model server of fixed capacity
// (--model-concurrency calls at a time, --model-latency each, the rest
// queued), the slow dependency of the overload benchmark.
func noop(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("noop", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("http-addr", "127.0.0.1:8081", "listen address")
	modelConc := fs.Int("model-concurrency", 4, "model endpoint: calls served at once; the rest wait")
	modelLat := fs.Duration("model-latency", 20*time.Millisecond, "model endpoint: time to answer one call")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *modelConc <= 0 {
		return errors.New("--model-concurrency must be positive")
	}
	r := chi.NewRouter()
	r.Post("/score", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 64<<10))
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, noopResult)
	})
	slots := make(chan struct{}, *modelConc)
	r.Post("/v2/models/{name}/infer", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 64<<10))
		select {
		case slots <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		defer func() { <-slots }()
		t := time.NewTimer(*modelLat)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, noopModelResult)
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
