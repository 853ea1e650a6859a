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
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/fraudscore/scorer/alerts"
	"github.com/fraudscore/scorer/api"
	"github.com/fraudscore/scorer/backpressure"
	"github.com/fraudscore/scorer/deadletter"
	"github.com/fraudscore/scorer/diskguard"
	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/kafkaconn"
	"github.com/fraudscore/scorer/model"
	"github.com/fraudscore/scorer/outbox"
	"github.com/fraudscore/scorer/retry"
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
	AdmissionWait     time.Duration // 10ms: longest a request queues for admission
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
// HTTP listener, so that address errors surface at once. Run serves.
func New(ctx context.Context, cfg Config) (_ *Service, err error) {
	cfg.defaults()
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
		WithBlockCacheSize(64 << 20)
	if s.db, err = badger.OpenManaged(bopt); err != nil {
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
		if s.outbox, err = outbox.Open(s.db, s.store, alerts.Prefix); err != nil {
			return nil, err
		}
		s.pipeline.Outbox = alerts.New(s.outbox)
		em := &emitter{}
		if em.windows, err = outbox.Open(s.db, s.store, windowsPrefix); err != nil {
			return nil, err
		}
		if em.late, err = outbox.Open(s.db, s.store, latePrefix); err != nil {
			return nil, err
		}
		s.store.SetEmitter(em)
		s.relays = []*outbox.Relay{
			outbox.NewRelay(em.windows, outbox.RelayConfig{Kafka: s.kafka, Topic: cfg.TopicWindows, IDHeader: "window_id",
				Logger: cfg.Logger, TracerProvider: s.tel.TracerProvider}),
			outbox.NewRelay(em.late, outbox.RelayConfig{Kafka: s.kafka, Topic: cfg.TopicLate, IDHeader: "transaction_id",
				Logger: cfg.Logger, TracerProvider: s.tel.TracerProvider}),
		}
		s.relay = outbox.NewRelay(s.outbox, outbox.RelayConfig{Kafka: s.kafka, Topic: cfg.TopicAlerts, IDHeader: alerts.IDHeader, Logger: cfg.Logger,
			TracerProvider: s.tel.TracerProvider})
		s.dlq = deadletter.NewWriter(s.kafka, cfg.TopicDLQ)
		s.dlq.Logger = cfg.Logger
		s.consumer = stream.New(stream.Config{
			Kafka: s.kafka, Topic: cfg.TopicTransactions, GroupID: cfg.GroupID,
			Pipeline: s.pipeline, DLQ: s.dlq, Budget: cfg.Budget, MaxFutureSkew: cfg.MaxFutureSkew, MaxEventAge: cfg.MaxEventAge,
			Gate: s.disk.Wait, StallAfter: cfg.KafkaStallAfter, Logger: cfg.Logger,
			TracerProvider: s.tel.TracerProvider, Propagator: s.tel.Propagator,
		})
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
		Ready: map[string]api.Check{
			"store": func(context.Context) error {
				if s.db.IsClosed() {
					return errors.New("closed")
				}
				return nil
			},
			"disk":  func(context.Context) error { return s.disk.Writable() },
			"kafka": s.kafkaReady,
		},
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

// The waits of runKafka's retry loops (see retry.Backoff).
const (
	// While the topics cannot be created (brokers away, say), they are
	// tried again after a wait from topicsRetryBase, doubling per failure
	// up to topicsRetryCap.
	topicsRetryBase = 500 * time.Millisecond
	topicsRetryCap  = 10 * time.Second
	// consumerRestartWait is the wait before a consumer that stopped on an
	// error is run again, the same after every stop (jittered).
	consumerRestartWait = time.Second
)

// runKafka creates the topics, then runs the consumer and the relay until
// ctx ends, restarting the consumer should it stop on an error.
func (s *Service) runKafka(ctx context.Context) {
	topics := []kafka.TopicConfig{
		{Topic: s.cfg.TopicTransactions, NumPartitions: s.cfg.TopicPartitions, ReplicationFactor: s.cfg.TopicReplication},
		{Topic: s.cfg.TopicAlerts, NumPartitions: s.cfg.TopicPartitions, ReplicationFactor: s.cfg.TopicReplication},
		{Topic: s.cfg.TopicDLQ, NumPartitions: s.cfg.TopicPartitions, ReplicationFactor: s.cfg.TopicReplication},
		{Topic: s.cfg.TopicWindows, NumPartitions: s.cfg.TopicPartitions, ReplicationFactor: s.cfg.TopicReplication},
		{Topic: s.cfg.TopicLate, NumPartitions: s.cfg.TopicPartitions, ReplicationFactor: s.cfg.TopicReplication},
	}
	b := retry.Backoff{Base: topicsRetryBase, Cap: topicsRetryCap}
	for attempt := 1; ; attempt++ {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.kafka.EnsureTopics(tctx, topics...)
		cancel()
		if err == nil {
			break
		}
		s.topicErr.Store(&err)
		s.log.Warn("kafka topics not ready; retrying", "err", err)
		if retry.Sleep(ctx, b.Next(attempt)) != nil {
			return
		}
	}
	close(s.topics)
	s.log.Info("kafka ready", "kafka", s.kafka, "transactions", s.cfg.TopicTransactions,
		"alerts", s.cfg.TopicAlerts, "dlq", s.cfg.TopicDLQ, "group", s.cfg.GroupID)
	var wg sync.WaitGroup
	for _, r := range append([]*outbox.Relay{s.relay}, s.relays...) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Run(ctx)
		}()
	}
	restart := retry.Backoff{Base: consumerRestartWait, Cap: consumerRestartWait}
	for restarts := 1; ctx.Err() == nil; {
		if err := s.consumer.Run(ctx); err != nil {
			s.log.Error("consumer stopped; restarting", "err", err)
			retry.Sleep(ctx, restart.Next(restarts)) // an end of ctx ends the loop
			restarts++
		}
	}
	wg.Wait()
}

// Relay is the alert relay, nil when Kafka is off.
func (s *Service) Relay() *outbox.Relay { return s.relay }

// Consumer is the Kafka consumer, nil when Kafka is off.
func (s *Service) Consumer() *stream.Consumer { return s.consumer }

// close releases everything New acquired, store last.
func (s *Service) close() error {
	var errs []error
	if s.ln != nil && s.srv == nil {
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

// startKafka starts the embedded development broker when asked, and
// reads the connection settings of real brokers (TLS files, SASL
// password), refusing bad ones. The consumer and the relays attach to
// s.kafka.
func (s *Service) startKafka(ctx context.Context) error {
	secured := s.cfg.KafkaTLS.On() || s.cfg.KafkaSASL.On()
	switch b := strings.TrimSpace(s.cfg.KafkaBrokers); b {
	case "", "none", "off":
		s.log.Warn("kafka disabled: only the HTTP path runs")
		return nil
	case "embedded":
		if secured {
			return errors.New("--kafka-tls* and --kafka-sasl-* are for real brokers; the embedded broker speaks plaintext: drop them or pass --kafka-brokers host:port,...")
		}
		host, portStr, err := net.SplitHostPort(s.cfg.EmbeddedKafkaAddr)
		if err != nil {
			return fmt.Errorf("embedded kafka addr: %w", err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return fmt.Errorf("embedded kafka addr: bad port %q", portStr)
		}
		listen := func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}
		c, err := kfake.NewCluster(
			kfake.Ports(port),
			kfake.ListenFn(listen),
			kfake.DataDir(filepath.Join(s.cfg.DataDir, "kafka")),
			kfake.DefaultNumPartitions(4),
		)
		if err != nil {
			return fmt.Errorf("embedded kafka on %s: %w", s.cfg.EmbeddedKafkaAddr, err)
		}
		s.broker = c
		s.kafka = kafkaconn.Plain(c.ListenAddrs()...)
		s.log.Warn("EMBEDDED DEVELOPMENT KAFKA BROKER: single node, no replication, not for production; pass --kafka-brokers host:port,... for real brokers",
			"addr", strings.Join(c.ListenAddrs(), ","), "data_dir", filepath.Join(s.cfg.DataDir, "kafka"))
	default:
		k, err := kafkaconn.New(kafkaconn.Config{Brokers: strings.Split(b, ","), TLS: s.cfg.KafkaTLS, SASL: s.cfg.KafkaSASL})
		if err != nil {
			return err
		}
		s.kafka = k
		if s.cfg.KafkaSASL.On() && strings.EqualFold(s.cfg.KafkaSASL.Mechanism, "plain") && !s.cfg.KafkaTLS.On() {
			s.log.Warn("kafka SASL PLAIN without TLS sends the password in clear text; set --kafka-tls", "kafka", k)
		}
	}
	return nil
}

// KafkaReady is closed once the topics exist and the consumer and relay
// are starting.
func (s *Service) KafkaReady() <-chan struct{} { return s.topics }

// kafkaReady reports whether the topics were set up and a broker accepts
// a connection, with TLS and SASL when configured.
func (s *Service) kafkaReady(ctx context.Context) error {
	if s.kafka == nil {
		return api.ErrDisabled
	}
	select {
	case <-s.topics:
	default:
		if err := s.topicErr.Load(); err != nil {
			return fmt.Errorf("topics not created yet: %w", *err)
		}
		return errors.New("topics not created yet")
	}
	if err := s.kafka.Check(ctx); err != nil {
		return err
	}
	// A partition whose processing stopped moving (a dead letter that cannot
	// be written, say) holds back every later record of its cards.
	now := time.Now()
	var stalls []string
	for _, st := range s.consumer.Stalls() {
		stalls = append(stalls, fmt.Sprintf("partition %d stalled at offset %d for %s, lag %d",
			st.Partition, st.Offset, now.Sub(st.Since).Round(time.Second), st.Lag))
	}
	if len(stalls) > 0 {
		return errors.New(strings.Join(stalls, "; "))
	}
	return nil
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

// registerGauges exposes the state that is read rather than counted:
// outbox depth, consumer lag, Badger size, breaker states, cached cards,
// dead letters by class.
func (s *Service) registerGauges() error {
	g := map[string]func() int64{
		"scorer.badger.size": func() int64 {
			lsm, vlog := s.db.Size()
			return lsm + vlog
		},
		"scorer.velocity.cached_cards": func() int64 { return int64(s.store.Stats().CachedCards) },
		"scorer.disk.free":             func() int64 { return int64(s.disk.Status().Free) },
		"scorer.disk.low": func() int64 {
			if s.disk.Status().Low {
				return 1
			}
			return 0
		},
	}
	g["scorer.windows.closed"] = func() int64 { return s.store.Stats().Windows }
	g["scorer.windows.late"] = func() int64 { return s.store.Stats().LateForWindow }
	g["scorer.velocity.dropped_late"] = func() int64 { return s.store.Stats().DroppedLate }
	g["scorer.admission.limit"] = func() int64 { return int64(s.limiter.Stats().Limit) }
	g["scorer.admission.inflight"] = func() int64 { return int64(s.limiter.Stats().InFlight) }
	d := map[string]string{
		"scorer.admission.limit":       "Current concurrency limit of POST /score.",
		"scorer.admission.inflight":    "POST /score requests admitted and not yet answered.",
		"scorer.badger.size":           "Bytes on disk in Badger (LSM and value log).",
		"scorer.windows.closed":        "Tumbling and session windows closed (and queued for velocity.windows) since start.",
		"scorer.windows.late":          "Events that came for a window already closed, left out of it and copied to transactions.late, since start.",
		"scorer.velocity.dropped_late": "Late events beyond retention, scored but not kept in the online state, since start.",
		"scorer.velocity.cached_cards": "Cards whose velocity state is in memory.",
		"scorer.disk.free":             "Bytes free on the file system of the data dir, at the last reading.",
		"scorer.disk.low":              "1 while new work is refused because the data dir's disk is nearly full.",
	}
	if s.remote != nil {
		g["scorer.breaker.model.state"] = func() int64 {
			switch s.remote.BreakerState() {
			case "half-open":
				return 1
			case "open":
				return 2
			}
			return 0
		}
		d["scorer.breaker.model.state"] = "Remote model breaker: 0 closed, 1 half-open, 2 open."
	}
	if s.relay != nil {
		g["scorer.outbox.depth"] = s.outbox.Depth
		d["scorer.outbox.depth"] = "Alerts waiting in the outbox for the broker."
		g["scorer.alerts.published"] = func() int64 { return s.relay.Stats().Published }
		d["scorer.alerts.published"] = "Alerts acknowledged by the broker since start."
		g["scorer.breaker.alerts_publish.state"] = func() int64 { return int64(s.relay.BreakerState()) }
		d["scorer.breaker.alerts_publish.state"] = "Alert publish breaker: 0 closed, 1 half-open, 2 open."
		g["scorer.kafka.consumer.lag"] = func() int64 {
			var lag int64
			for _, l := range s.consumer.PartitionLag() {
				lag += l
			}
			return lag
		}
		d["scorer.kafka.consumer.lag"] = "Records of the transactions topic not yet processed, over the partitions this instance works on (ends read every 5 s)."
		g["scorer.kafka.partitions.stalled"] = func() int64 { return int64(len(s.consumer.Stalls())) }
		d["scorer.kafka.partitions.stalled"] = "Partitions of the transactions topic with records waiting whose processed offset has not moved for --kafka-stall-after."
		g["scorer.dlq.truncated"] = s.dlq.Truncated
		d["scorer.dlq.truncated"] = "Dead letters written as truncated copies because the original was over the broker's size limit."
		for _, c := range deadletter.Classes {
			name := "scorer.dlq." + string(c)
			g[name] = func() int64 { return s.dlq.Counts()[c] }
			d[name] = "Records dead-lettered since start with class " + string(c) + "."
		}
	}
	return telemetry.RegisterGauges(s.tel.MeterProvider, "github.com/fraudscore/scorer/service", g, d)
}

// admissionObserver counts admission decisions.
type admissionObserver struct {
	shed, admitted metric.Int64Counter
}

func newAdmissionObserver(mp metric.MeterProvider) (*admissionObserver, error) {
	m := mp.Meter("github.com/fraudscore/scorer/backpressure")
	o := &admissionObserver{}
	var err error
	if o.shed, err = m.Int64Counter("scorer.shed", metric.WithUnit("{request}"),
		metric.WithDescription("POST /score requests shed with 503, by reason.")); err != nil {
		return nil, err
	}
	if o.admitted, err = m.Int64Counter("scorer.admitted", metric.WithUnit("{request}"),
		metric.WithDescription("POST /score requests admitted.")); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *admissionObserver) Shed(reason string) {
	o.shed.Add(context.Background(), 1, metric.WithAttributes(attribute.String("reason", reason)))
}
func (o *admissionObserver) Admitted() { o.admitted.Add(context.Background(), 1) }
func (o *admissionObserver) Limit(int) {}
