package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/fraudscore/scorer/kafkaconn"
	"github.com/fraudscore/scorer/retry"
)

// After a failed publish the relay waits from publishRetryBase, doubling
// per failure in a row up to publishRetryCap (see retry.Backoff), or
// RelayConfig.OpenFor while the breaker is open.
const (
	publishRetryBase = 50 * time.Millisecond
	publishRetryCap  = 2 * time.Second
)

// RelayConfig configures a Relay. Zero values take the defaults in brackets.
type RelayConfig struct {
	// Kafka is the cluster, with the TLS and SASL every connection uses.
	Kafka *kafkaconn.Cluster
	Topic string
	// IDHeader is the header that carries each message's ID (alert_id),
	// by which a publish that may have reached the topic is recognised.
	IDHeader string
	// Name names the relay's breaker and log lines [Topic].
	Name string
	// BatchSize bounds the messages sent in one produce [100]; small
	// batches keep a message's time to the topic in tens of milliseconds.
	BatchSize int
	// OpenFor is how long the breaker stays open before a trial [2s].
	OpenFor time.Duration
	// Lookback is how many of the newest messages per partition of the
	// topic are read, after a failed or interrupted publish, to find
	// messages that did reach Kafka so that they are not sent twice [10000].
	Lookback int64
	Logger   *slog.Logger
	// TracerProvider records a producer span per publish, linked to the
	// traces in the messages' traceparent headers [no-op].
	TracerProvider trace.TracerProvider
}

// Relay publishes an outbox to a topic: each message's key, value and
// headers, plus its ID in IDHeader, with acknowledgement from all in-sync
// replicas. Failures are retried with backoff behind a circuit breaker; the
// outbox keeps every message until Kafka has it, so a broker outage delays
// messages and loses none.
type Relay struct {
	cfg    RelayConfig
	ob     *Outbox
	w      *kafka.Writer
	cb     *gobreaker.CircuitBreaker[struct{}]
	log    *slog.Logger
	tracer trace.Tracer

	// suspect is set when a publish may have partly reached Kafka: before
	// the next one, the topic's tail is checked for those ids.
	suspect bool

	published, failures, skipped atomic.Int64
	mu                           sync.Mutex
	lastLatency                  time.Duration
}

// RelayStats are the relay's counters.
type RelayStats struct {
	Published    int64         // messages acknowledged by Kafka
	Failures     int64         // failed publish attempts
	Skipped      int64         // messages found already on the topic after a failure
	Depth        int64         // messages waiting in the outbox
	LastLatency  time.Duration // decision to acknowledgement, for the latest batch
	BreakerState string
}

// NewRelay returns a relay for ob; Run starts it.
func NewRelay(ob *Outbox, cfg RelayConfig) *Relay {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.OpenFor <= 0 {
		cfg.OpenFor = 2 * time.Second
	}
	if cfg.Lookback <= 0 {
		cfg.Lookback = 10000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Name == "" {
		cfg.Name = cfg.Topic
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = noop.NewTracerProvider()
	}
	r := &Relay{cfg: cfg, ob: ob, log: cfg.Logger, suspect: true, tracer: cfg.TracerProvider.Tracer("github.com/fraudscore/scorer/outbox")}
	r.w = cfg.Kafka.Writer(cfg.Topic)
	r.w.RequiredAcks = kafka.RequireAll
	r.w.BatchSize = cfg.BatchSize
	r.w.MaxAttempts = 1 // the relay retries, behind the breaker
	r.w.WriteTimeout = 5 * time.Second
	r.w.ReadTimeout = 5 * time.Second
	r.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        cfg.Name + "-publish",
		MaxRequests: 1,
		Timeout:     cfg.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 3 },
		IsExcluded:  func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			cfg.Logger.Warn("circuit breaker", "name", name, "from", from.String(), "to", to.String())
		},
	})
	return r
}

// BreakerState is the publish breaker's state: closed, half-open or open.
func (r *Relay) BreakerState() gobreaker.State { return r.cb.State() }

// Stats returns the relay's counters.
func (r *Relay) Stats() RelayStats {
	r.mu.Lock()
	lat := r.lastLatency
	r.mu.Unlock()
	return RelayStats{
		Published: r.published.Load(), Failures: r.failures.Load(), Skipped: r.skipped.Load(),
		Depth: r.ob.Depth(), LastLatency: lat, BreakerState: r.cb.State().String(),
	}
}

// Run publishes until ctx ends, then closes the writer. Alerts still in the
// outbox are published by the next run.
func (r *Relay) Run(ctx context.Context) error {
	defer r.w.Close()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	b := retry.Backoff{Base: publishRetryBase, Cap: publishRetryCap}
	inARow := 0 // failed publishes
	for {
		n, err := r.publishOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			r.failures.Add(1)
			inARow++
			r.log.Warn("publish failed; will retry", "topic", r.cfg.Topic, "err", err, "depth", r.ob.Depth(), "breaker", r.cb.State().String())
			wait := b.Next(inARow)
			if r.cb.State() == gobreaker.StateOpen {
				wait = r.cfg.OpenFor
			}
			if retry.Sleep(ctx, wait) != nil {
				return nil
			}
		case n > 0:
			inARow = 0
		default:
			select {
			case <-ctx.Done():
				return nil
			case <-r.ob.notify:
			case <-tick.C:
			}
		}
	}
}

// publishOnce sends the next batch and removes it from the outbox.
func (r *Relay) publishOnce(ctx context.Context) (int, error) {
	recs, err := r.ob.next(r.cfg.BatchSize)
	if err != nil {
		return 0, err
	}
	// What is deleted from the outbox by the end of this call.
	var finished []record
	defer func() { r.ob.finish(recs, finished) }()
	if len(recs) == 0 {
		return 0, nil
	}
	pending := recs // to publish
	if r.suspect {
		// A previous attempt may have reached Kafka without our knowing:
		// drop what is already on the topic instead of sending it twice.
		found, err := r.onTopic(ctx, recs)
		if err != nil {
			return 0, fmt.Errorf("check topic for published messages: %w", err)
		}
		var keep, done []record
		for _, rec := range recs {
			if found[rec.id] {
				done = append(done, rec)
			} else {
				keep = append(keep, rec)
			}
		}
		if len(done) > 0 {
			if err := r.ob.remove(ctx, done); err != nil {
				return 0, err
			}
			finished = done
			r.skipped.Add(int64(len(done)))
		}
		r.suspect = false
		if len(keep) == 0 {
			return len(done), nil
		}
		pending = keep
	}
	msgs := make([]kafka.Message, len(pending))
	var links []trace.Link
	for _, rec := range pending {
		if tp := rec.header("traceparent"); tp != "" {
			lctx := propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": tp})
			links = append(links, trace.Link{SpanContext: trace.SpanContextFromContext(lctx)})
		}
	}
	ctx, span := r.tracer.Start(ctx, "send "+r.cfg.Topic, trace.WithSpanKind(trace.SpanKindProducer), trace.WithLinks(links...),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.destination.name", r.cfg.Topic),
			attribute.String("messaging.operation.type", "send"),
			attribute.Int("messaging.batch.message_count", len(pending)),
		))
	defer span.End()
	for i, rec := range pending {
		h := make([]kafka.Header, 0, 1+len(rec.headers))
		h = append(h, kafka.Header{Key: r.cfg.IDHeader, Value: []byte(rec.id)})
		h = append(h, rec.headers...)
		msgs[i] = kafka.Message{Key: rec.key, Value: rec.value, Headers: h}
	}
	_, err = r.cb.Execute(func() (struct{}, error) {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return struct{}{}, r.w.WriteMessages(wctx, msgs...)
	})
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
		if !errors.Is(err, gobreaker.ErrOpenState) && !errors.Is(err, gobreaker.ErrTooManyRequests) {
			r.suspect = true
		}
		return 0, err
	}
	// Acknowledged: an interruption from here on leaves messages that are on
	// the topic and still in the outbox, which the next run's check finds.
	if err := r.ob.remove(context.WithoutCancel(ctx), pending); err != nil {
		r.suspect = true
		return 0, err
	}
	finished = append(finished, pending...)
	r.published.Add(int64(len(pending)))
	r.mu.Lock()
	r.lastLatency = time.Since(time.Unix(0, pending[len(pending)-1].created))
	r.mu.Unlock()
	return len(pending), nil
}

// onTopic reads the newest Lookback messages of each partition of the
// topic and reports which of recs' ids are there.
func (r *Relay) onTopic(ctx context.Context, recs []record) (map[string]bool, error) {
	want := make(map[string]bool, len(recs))
	for _, rec := range recs {
		want[rec.id] = false
	}
	found := map[string]bool{}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	parts, err := r.cfg.Kafka.Partitions(ctx, r.cfg.Topic)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		first, end, err := r.cfg.Kafka.Offsets(ctx, p)
		if err != nil {
			return nil, err
		}
		err = r.cfg.Kafka.Read(ctx, p, max(first, end-r.cfg.Lookback), end, func(msgs []kafka.Message) error {
			for _, m := range msgs {
				for _, h := range m.Headers {
					if h.Key == r.cfg.IDHeader {
						if _, ok := want[string(h.Value)]; ok {
							found[string(h.Value)] = true
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read %s/%d: %w", r.cfg.Topic, p.ID, err)
		}
	}
	return found, nil
}
