package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/fraudscore/scorer/backpressure"
	"github.com/fraudscore/scorer/model"
	"github.com/fraudscore/scorer/service"
	"github.com/fraudscore/scorer/telemetry"
)

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	var c service.Config
	var logLevel string
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.HTTPAddr, "http-addr", ":8080", "HTTP listen address")
	fs.StringVar(&c.DataDir, "data-dir", "./data", "directory for Badger and the embedded broker")
	fs.StringVar(&c.KafkaBrokers, "kafka-brokers", "embedded", `"embedded" (in-process development broker), "none", or host:port,...`)
	kafkaFlags(fs, &c.KafkaTLS, &c.KafkaSASL)
	fs.StringVar(&c.EmbeddedKafkaAddr, "embedded-kafka-addr", "127.0.0.1:9092", "listen address of the embedded broker")
	fs.StringVar(&c.TopicTransactions, "topic-transactions", "transactions", "input topic")
	fs.StringVar(&c.TopicAlerts, "topic-alerts", "fraud.alerts", "alert topic")
	fs.StringVar(&c.TopicDLQ, "topic-dlq", "transactions.dlq", "dead-letter topic")
	fs.StringVar(&c.TopicWindows, "topic-windows", "velocity.windows", "topic of closed tumbling and session windows")
	fs.StringVar(&c.TopicLate, "topic-late", "transactions.late", "topic of events that came for a closed window")
	fs.StringVar(&c.GroupID, "group-id", "scorer", "Kafka consumer group")
	fs.StringVar(&c.AdvertisedURL, "advertised-url", "", "this instance's HTTP base URL as the others reach it (http://host:port), told to the consumer group; shown by cluster-check")
	fs.IntVar(&c.TopicPartitions, "topic-partitions", 4, "partitions of the topics created at start-up")
	fs.IntVar(&c.TopicReplication, "topic-replication", 1, "replication factor of the topics created at start-up")
	fs.DurationVar(&c.Budget, "budget", 2*time.Second, "longest a scoring may take; X-Timeout-Ms can shorten it")
	fs.DurationVar(&c.AllowedLateness, "allowed-lateness", 2*time.Minute, "watermark = stream time - allowed lateness")
	fs.DurationVar(&c.MaxFutureSkew, "max-future-skew", 5*time.Minute, "how far ahead of the server clock event_time may be")
	fs.DurationVar(&c.DedupRetention, "dedup-retention", 24*time.Hour, "how long a transaction_id is remembered (wall clock)")
	fs.DurationVar(&c.MaxEventAge, "max-event-age", service.DefaultMaxEventAge, "how far behind the server clock event_time may be")
	fs.DurationVar(&c.KafkaStallAfter, "kafka-stall-after", 30*time.Second, "a partition with records waiting whose processed offset has not moved for this long makes /readyz 503")
	fs.IntVar(&c.MinFreeDiskMiB, "min-free-disk-mib", 512, "below this much free space under --data-dir, new work is refused until space is freed")
	fs.StringVar(&c.FeaturesFile, "features", "", "feature definitions file, YAML (default: the embedded features/default.yaml: the nine of DESIGN.md and twelve more)")
	fs.StringVar(&c.RulesFile, "rules", "", "rules file, YAML or JSON (default: embedded rules)")
	fs.StringVar(&c.ModelFile, "model", "", "model file (default: embedded model); reloaded on SIGHUP and POST /admin/reload")
	fs.StringVar(&c.ShadowModelFile, "shadow-model", "", "a challenger model file scored beside the model on every transaction, never changing the answer")
	fs.StringVar(&c.ModelURL, "model-url", "", "remote model base URL speaking the Open Inference Protocol (POST {url}/infer); the local model is the fallback")
	fs.IntVar(&c.ModelMaxInFlight, "model-max-inflight", model.DefaultRemoteMaxInFlight, "calls in flight to --model-url at once; more are answered by the local fallback at once")
	fs.IntVar(&c.MaxConcurrency, "max-concurrency", 1024, "upper bound of the adaptive admission limit of POST /score")
	fs.IntVar(&c.StaticConcurrency, "static-concurrency", 0, "fixed admission limit instead of the adaptive one (0: adaptive)")
	fs.DurationVar(&c.AdmissionWait, "admission-wait", backpressure.DefaultMaxWait, "longest a request queues for admission while the queue drains (a standing queue allows 5ms) before a 503")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", 64<<10, "largest accepted request body")
	fs.BoolVar(&c.SyncWrites, "sync-writes", false, "fsync every Badger commit (survives power loss, slower)")
	fs.IntVar(&c.MaxCachedCards, "max-cached-cards", 1_000_000, "cards kept in memory; colder ones reload from Badger")
	fs.IntVar(&c.MaxEventsPerCard, "max-events-per-card", 10_000, "events kept per card; past it the oldest are dropped")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long SIGTERM waits for in-flight work")
	fs.StringVar(&c.AuthTokensFile, "auth-tokens-file", "", "file of accepted bearer tokens, one a line; reloaded on SIGHUP (default: auth off)")
	fs.StringVar(&c.AdminTokensFile, "admin-tokens-file", "", "file of bearer tokens for /admin/*, one a line; reloaded on SIGHUP (default: admin endpoints off)")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	memLimit := fs.Int64("memory-limit-mib", 450, "soft memory limit for the Go runtime in MiB (GOMEMLIMIT wins when set; 0: none)")
	gcPercent := fs.Int("gc-percent", 200, "heap growth between collections, as GOGC (GOGC wins when set)")
	pprofAddr := fs.String("pprof-addr", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060; off when empty)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
		return err
	}
	c.Logger = slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl})))
	c.Version = version()

	// Go lets the heap grow to twice the live data before collecting; with
	// a million cards that alone is the difference between about 400 and
	// 760 MiB of RSS. A soft limit makes the collector work harder instead.
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set && *memLimit > 0 {
		debug.SetMemoryLimit(*memLimit << 20)
	}
	// But with Go's default of 100 the heap's goal sits so close to the
	// live data that the scavenger hands back to the OS, between two
	// memtable flushes, the pages Badger's next memtable arena (about 42 MiB)
	// and table builder (64 MiB) reuse; touching them again took 150-200 ms
	// of CPU inside Badger's write lock on a VM, and the service stalled
	// for most of a second (docs/BENCHMARKS.md#overload). 200 keeps them.
	if _, set := os.LookupEnv("GOGC"); !set && *gcPercent > 0 {
		debug.SetGCPercent(*gcPercent)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *pprofAddr != "" {
		ln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			return fmt.Errorf("pprof: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		ps := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go ps.Serve(ln)
		defer ps.Close()
		c.Logger.Info("pprof serving", "addr", ln.Addr().String())
	}
	s, err := service.New(ctx, c)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				s.ReloadAuth()
				s.Reload()
			}
		}
	}()
	return s.Run(ctx)
}
