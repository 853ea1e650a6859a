// Package service assembles the scorer from its parts (Badger, velocity
// store, model, scoring pipeline, HTTP API, Kafka broker) and runs it until
// its context ends. cmd/scorer parses flags into a Config; tests start the
// same Service in-process.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/fraudscore/scorer/api"
	"github.com/fraudscore/scorer/backpressure"
	"github.com/fraudscore/scorer/deadletter"
	"github.com/fraudscore/scorer/diskguard"
	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/kafkaconn"
	"github.com/fraudscore/scorer/kv"
	"github.com/fraudscore/scorer/model"
	"github.com/fraudscore/scorer/outbox"
	"github.com/fraudscore/scorer/scoring"
	"github.com/fraudscore/scorer/stream"
	"github.com/fraudscore/scorer/telemetry"
	"github.com/fraudscore/scorer/velocity"
)

// Config is the service's configuration; cmd/scorer fills it from flags and
// SCORER_* variables. Zero values take the defaults of DESIGN.md.
type Config struct {
	HTTPAddr          string        // :8080
	DataDir           string        // ./data
	KafkaBrokers      string        // "embedded", or host:port,... ; "" or "none" disables Kafka
	EmbeddedKafkaAddr string        // 127.0.0.1:9092
	TopicTransactions string        // transactions
	TopicAlerts       string        // fraud.alerts
	TopicDLQ          string        // transactions.dlq
	TopicWindows      string        // velocity.windows: closed tumbling and session windows
	TopicLate         string        // transactions.late: events that came for a closed window
	GroupID           string        // scorer
	AdvertisedURL     string        // this instance's HTTP base URL, told to its consumer group ("" : none)
	TopicPartitions   int           // 4: partitions of topics created at start-up
	TopicReplication  int           // 1: replication factor of topics created at start-up
	Budget            time.Duration // 2s
	AllowedLateness   time.Duration // 2m
	MaxFutureSkew     time.Duration // 5m
	DedupRetention    time.Duration // 24h
	FeaturesFile      string        // feature definitions (YAML); the embedded default when empty
	RulesFile         string        // embedded default when empty
	ModelFile         string        // embedded default when empty
	ShadowModelFile   string        // a challenger scored beside the model, never changing the answer
	ModelURL          string        // remote model (Open Inference Protocol); the local model is its fallback
	ModelMaxInFlight  int           // 16: calls in flight to the remote model; more fall back at once
	MaxConcurrency    int           // 1024: upper bound of the adaptive admission limit
	StaticConcurrency int           // > 0: fixed admission limit instead of the adaptive one
	AdmissionWait     time.Duration // backpressure.DefaultMaxWait: longest a request queues while the queue drains
	MaxBodyBytes      int64         // 64 KiB
	SyncWrites        bool          // fsync every Badger commit
	MaxCachedCards    int           // 1,000,000
	MaxEventsPerCard  int           // 10,000
	ShutdownTimeout   time.Duration // 15s
	AuthTokensFile    string        // bearer tokens; auth is off (with a warning) when empty
	AdminTokensFile   string        // bearer tokens of /admin/*; admin endpoints are off when empty
	MaxEventAge       time.Duration // 20 years: how far behind the server clock event_time may be
	MinFreeDiskMiB    int           // 512: below this much free space under DataDir, new work is refused
	KafkaStallAfter   time.Duration // 30s: a partition whose processed offset has not moved for this long, with records waiting, makes /readyz 503
	Logger            *slog.Logger
	// KafkaTLS and KafkaSASL secure the connections to real brokers;
	// both are off when zero, and refused with the embedded broker.
	KafkaTLS  kafkaconn.TLS
	KafkaSASL kafkaconn.SASL
	// Telemetry is the tracer and meter providers; nil sets them up from
	// the OTEL_* environment (Prometheus /metrics always, OTLP when set).
	Telemetry *telemetry.Telemetry
	Version   string
}

func (c *Config) defaults() {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.HTTPAddr, ":8080")
	def(&c.DataDir, "./data")
	def(&c.EmbeddedKafkaAddr, "127.0.0.1:9092")
	def(&c.TopicTransactions, "transactions")
	def(&c.TopicAlerts, "fraud.alerts")
	def(&c.TopicDLQ, "transactions.dlq")
	def(&c.TopicWindows, "velocity.windows")
	def(&c.TopicLate, "transactions.late")
	def(&c.GroupID, "scorer")
	if c.Budget <= 0 {
		c.Budget = 2 * time.Second
	}
	if c.TopicPartitions <= 0 {
		c.TopicPartitions = 4
	}
	if c.TopicReplication <= 0 {
		c.TopicReplication = 1
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	if c.MaxEventAge <= 0 {
		c.MaxEventAge = DefaultMaxEventAge
	}
	if c.MinFreeDiskMiB <= 0 {
		c.MinFreeDiskMiB = 512
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// DefaultMaxEventAge bounds how old an event_time may be: old enough for
// any replay of real history (the Sparkov log is from 2019), young enough
// to refuse what can only be a mistake.
const DefaultMaxEventAge = 20 * 365 * 24 * time.Hour

// Service is a running scorer.
type Service struct {
	cfg      Config
	log      *slog.Logger
	db       *badger.DB
	store    *velocity.Store
	pipeline *scoring.Pipeline
	broker   *kfake.Cluster
	kafka    *kafkaconn.Cluster    // nil when Kafka is off
	topics   chan struct{}         // closed once the topics exist
	topicErr atomic.Pointer[error] // why the topics are not created yet
	outbox   *outbox.Outbox
	relay    *outbox.Relay
	relays   []*outbox.Relay // closed windows, late events
	consumer *stream.Consumer
	dlq      *deadletter.Writer
	tokens   *api.Tokens
	admin    *api.Tokens
	remote   *model.Remote
	limiter  *backpressure.Limiter
	tel      *telemetry.Telemetry
	ownTel   bool
	disk     *diskguard.Guard
	handler  *api.Handler
	reloadMu sync.Mutex
	ln       net.Listener
	srv      *http.Server
}

// New opens the store, starts the embedded broker when asked and binds the
// HTTP listener, so that address errors surface at once. Run serves, and
// releases all that when it returns; Close releases it without serving.
func New(ctx context.Context, cfg Config) (_ *Service, err error) {
	cfg.defaults()
	if cfg.AdvertisedURL != "" {
		if u, perr := url.Parse(cfg.AdvertisedURL); perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			// Not echoed: a URL with user info would print its password.
			return nil, errors.New("--advertised-url: want http://host:port or https://host:port, without user info")
		}
	}
	s := &Service{cfg: cfg, log: cfg.Logger, topics: make(chan struct{})}
	// Not the named result: a failing return sets that to nil first.
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	// Before Badger opens: on a full disk it would die of SIGBUS writing
	// through a memory map, instead of saying why.
	minFree := uint64(cfg.MinFreeDiskMiB) << 20
	if err := diskguard.Check(cfg.DataDir, minFree); err != nil {
		return nil, fmt.Errorf("data dir %s: %w; free some space or lower --min-free-disk-mib", cfg.DataDir, err)
	}
	if s.disk, err = diskguard.Start(diskguard.Options{Path: cfg.DataDir, MinFree: minFree, Logger: cfg.Logger}); err != nil {
		return nil, err
	}
	bopt := badger.DefaultOptions(filepath.Join(cfg.DataDir, "badger")).
		WithLogger(badgerLogger{cfg.Logger}).
		WithDetectConflicts(false).
		WithSyncWrites(cfg.SyncWrites).
		WithMemTableSize(32 << 20).
		WithNumMemtables(3).
		WithBlockCacheSize(64 << 20).
		// Velocity records are small and hardly compress; Snappy took about
		// 40% of each memtable flush, a burst of CPU every few seconds that
		// the one core shares with scoring.
		WithCompression(options.None)
	if s.db, err = kv.Open(bopt); err != nil {
		return nil, fmt.Errorf("open badger: %w", err)
	}
	set := features.Default()
	if cfg.FeaturesFile != "" {
		if set, err = features.Load(cfg.FeaturesFile); err != nil {
			return nil, err
		}
	}
	s.store, err = velocity.Open(s.db, velocity.Options{
		Features:         set,
		AllowedLateness:  cfg.AllowedLateness,
		DedupRetention:   cfg.DedupRetention,
		MaxEventsPerCard: cfg.MaxEventsPerCard,
		MaxCachedCards:   cfg.MaxCachedCards,
		Logger:           cfg.Logger,
		WriteGate: func(n int) error {
			if err := s.disk.Writable(); err != nil {
				return err
			}
			s.disk.Charge(n)
			return nil
		},
		WriteError: s.disk.Report,
	})
	if err != nil {
		return nil, err
	}
	engine, err := s.buildEngine(cfg, cfg.ModelFile)
	if err != nil {
		return nil, err
	}
	s.pipeline = &scoring.Pipeline{Store: s.store, Engine: engine, Budget: cfg.Budget, Writable: s.disk.Writable}
	if cfg.ShadowModelFile != "" {
		shadow, err := s.buildEngine(cfg, cfg.ShadowModelFile)
		if err != nil {
			return nil, fmt.Errorf("shadow %w", err)
		}
		s.pipeline.SetShadow(shadow)
		s.log.Info("shadow model: scoring every transaction with a challenger too, never changing the answer",
			"shadow", shadow.Version(), "active", engine.Version())
	}
	if s.tel = cfg.Telemetry; s.tel == nil {
		if s.tel, err = telemetry.Setup(ctx, telemetry.Config{ServiceName: "scorer", ServiceVersion: cfg.Version}); err != nil {
			return nil, err
		}
		s.ownTel = true
	}
	if err := s.pipeline.Instrument(s.tel.TracerProvider, s.tel.MeterProvider); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}

	if err := s.startKafka(ctx); err != nil {
		return nil, err
	}
	if s.kafka != nil {
		if err := s.attachKafka(); err != nil {
			return nil, err
		}
	}

	if cfg.AuthTokensFile != "" {
		if s.tokens, err = api.LoadTokens(cfg.AuthTokensFile); err != nil {
			return nil, err
		}
		s.log.Info("bearer auth on", "tokens", s.tokens.Len(), "file", cfg.AuthTokensFile)
	} else {
		s.log.Warn("bearer auth OFF: anyone who reaches the port can score and read velocity; set --auth-tokens-file")
	}
	if cfg.AdminTokensFile != "" {
		if s.admin, err = api.LoadTokens(cfg.AdminTokensFile); err != nil {
			return nil, fmt.Errorf("admin tokens: %w", err)
		}
	}
	obs, err := newAdmissionObserver(s.tel.MeterProvider)
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	s.limiter = backpressure.New(backpressure.Options{
		MaxLimit: cfg.MaxConcurrency, InitialLimit: cfg.StaticConcurrency, Static: cfg.StaticConcurrency > 0,
		MaxWait: cfg.AdmissionWait, Observer: obs,
	})
	if err := s.registerGauges(); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	s.handler = api.New(api.Config{
		Tokens:      s.tokens,
		AdminTokens: s.admin,
		Metrics:     s.tel.MetricsHandler,
		Admission:   s.limiter,
		Instrument: otelhttp.NewMiddleware("scorer",
			// It records the URL a client sent, before the API can refuse a
			// card number in it.
			otelhttp.WithTracerProvider(telemetry.RedactingTracerProvider(s.tel.TracerProvider)),
			otelhttp.WithMeterProvider(s.tel.MeterProvider),
			otelhttp.WithPropagators(s.tel.Propagator),
			otelhttp.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/metrics" && r.URL.Path != "/healthz" })),
		Pipeline:      s.pipeline,
		Store:         s.store,
		Budget:        cfg.Budget,
		MaxBodyBytes:  cfg.MaxBodyBytes,
		MaxFutureSkew: cfg.MaxFutureSkew,
		MaxEventAge:   cfg.MaxEventAge,
		Logger:        cfg.Logger,
		Reload:        s.Reload,
		ModelVersion:  func() string { return s.pipeline.ModelVersion() },
		Ready:         s.readyChecks(),
	})
	s.srv = api.NewServer(cfg.HTTPAddr, s.handler, cfg.Budget)
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	s.ln = api.Listener(ln)
	return s, nil
}

// buildEngine assembles the rules and the model (modelFile, or the
// embedded default), checked against the features by model.Load, behind
// the remote model when there is one.
func (s *Service) buildEngine(cfg Config, modelFile string) (*model.Engine, error) {
	names := s.store.Features().Names()
	rules, m, err := model.Load(model.Files{Rules: cfg.RulesFile, Model: modelFile}, names)
	if err != nil {
		return nil, err
	}
	if cfg.ModelURL == "" {
		return model.NewEngine(rules, m, model.Options{}), nil
	}
	if s.remote == nil {
		remote, err := model.NewRemote(model.RemoteOptions{URL: cfg.ModelURL, MaxInFlight: cfg.ModelMaxInFlight, Logger: cfg.Logger})
		if err != nil {
			return nil, fmt.Errorf("model url: %w", err)
		}
		if err := remote.CheckVariables(append(slices.Clone(names), model.TransactionVariables()...)); err != nil {
			return nil, fmt.Errorf("model url: %w", err)
		}
		s.remote = remote
		s.log.Info("remote model", "url", cfg.ModelURL, "fallback", m.Version())
	}
	return model.NewEngine(rules, model.WithFallback(s.remote, m), model.Options{}), nil
}

// Reload re-reads the rules and model files (on SIGHUP, or POST
// /admin/reload) and, when they load and check, swaps them in without a
// restart: requests in flight finish with the old engine, the next ones
// get the new. On any error the old ones stay in force. It returns the
// active model version.
func (s *Service) Reload() (string, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	engine, err := s.buildEngine(s.cfg, s.cfg.ModelFile)
	if err != nil {
		s.log.Error("model and rules reload refused; keeping the active ones", "active", s.pipeline.ModelVersion(), "err", err)
		return s.pipeline.ModelVersion(), err
	}
	s.pipeline.SetEngine(engine)
	if s.cfg.ShadowModelFile != "" {
		shadow, err := s.buildEngine(s.cfg, s.cfg.ShadowModelFile)
		if err != nil {
			s.log.Error("shadow model reload refused; keeping the old one", "err", err)
		} else {
			s.pipeline.SetShadow(shadow)
		}
	}
	s.log.Info("model and rules reloaded", "model_version", s.pipeline.ModelVersion())
	return s.pipeline.ModelVersion(), nil
}

// ReloadAuth re-reads the tokens file (on SIGHUP). On error the old tokens
// stay in force.
func (s *Service) ReloadAuth() error {
	var errs []error
	if s.admin != nil {
		if err := s.admin.Reload(s.cfg.AdminTokensFile); err != nil {
			s.log.Error("admin tokens reload failed; keeping the old ones", "err", err)
			errs = append(errs, err)
		}
	}
	if s.tokens == nil {
		return errors.Join(append(errs, errors.New("auth is off: no --auth-tokens-file"))...)
	}
	if err := s.tokens.Reload(s.cfg.AuthTokensFile); err != nil {
		s.log.Error("auth tokens reload failed; keeping the old ones", "err", err)
		return errors.Join(append(errs, err)...)
	}
	s.log.Info("auth tokens reloaded", "tokens", s.tokens.Len())
	return errors.Join(errs...)
}

// Addr is the bound HTTP address.
func (s *Service) Addr() string { return s.ln.Addr().String() }

// Brokers are the Kafka bootstrap addresses in use, nil when Kafka is off.
func (s *Service) Brokers() []string {
	if s.kafka == nil {
		return nil
	}
	return s.kafka.Brokers()
}

// Store is the velocity store, for tests and tools.
func (s *Service) Store() *velocity.Store { return s.store }

// Admission is the admission control of POST /score, for tests and tools.
func (s *Service) Admission() *backpressure.Limiter { return s.limiter }

// Run serves until ctx ends, then stops accepting, drains in-flight
// requests within ShutdownTimeout and closes the store. It returns nil on a
// clean shutdown.
func (s *Service) Run(ctx context.Context) error {
	s.log.Info("serving", "http_addr", s.Addr(), "data_dir", s.cfg.DataDir, "budget", s.cfg.Budget.String())
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()

	// The Kafka side runs beside HTTP and never holds it up: topics are
	// created (and retried while brokers are away), then the consumer and
	// the alert relay start.
	kctx, stopKafka := context.WithCancel(context.Background())
	var kafkaWG sync.WaitGroup
	if s.consumer != nil {
		kafkaWG.Add(1)
		go func() {
			defer kafkaWG.Done()
			s.runKafka(kctx)
		}()
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.log.Warn("http drain incomplete", "err", err)
	}
	if serveErr == nil {
		serveErr = <-errc
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	s.handler.Wait()
	stopKafka()
	kafkaWG.Wait()
	closeErr := s.close()
	s.log.Info("stopped")
	return errors.Join(serveErr, closeErr)
}

// Close releases everything New opened (the HTTP listener, the embedded
// broker, the dead-letter writer, the store and Badger, the disk guard and
// the telemetry New set up), for a Service that is not to be run or whose
// Run has returned: Run releases them itself, so Close after it does
// nothing. Close may be called more than once; it must not be called
// while Run runs, nor Run after it.
func (s *Service) Close() error { return s.close() }

// close releases everything New acquired, store last. Fields it released
// are set to nil, so that a second call does nothing.
func (s *Service) close() error {
	var errs []error
	if s.ln != nil {
		// After Run, Shutdown has closed it already: that error says so.
		s.ln.Close()
	}
	if s.dlq != nil {
		s.dlq.Close()
		s.dlq = nil
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
		s.store = nil
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
		s.db = nil
	}
	if s.disk != nil {
		s.disk.Close()
		s.disk = nil
	}
	if s.kafka != nil {
		s.kafka.Close()
	}
	if s.broker != nil {
		s.broker.Close()
		s.broker = nil
	}
	if s.ownTel && s.tel != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, s.tel.Shutdown(ctx))
		cancel()
		s.tel = nil
	}
	return errors.Join(errs...)
}

// badgerLogger sends Badger's warnings and errors to slog and drops its
// chatty info and debug lines.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error("badger", "msg", strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn("badger", "msg", strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}
