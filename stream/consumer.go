// Package stream runs the Kafka side of the scorer: a consumer-group
// reader of the transactions topic whose records go through the same
// scoring pipeline as POST /score, partitions in parallel and each in
// order, with offsets committed only once a record's result is stored (and
// its alert is in the outbox) or the record is in the dead-letter topic.
package stream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/fraudscore/scorer/deadletter"
	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/kafkaconn"
	"github.com/fraudscore/scorer/retry"
	"github.com/fraudscore/scorer/scoring"
	"github.com/fraudscore/scorer/telemetry"
	"github.com/fraudscore/scorer/velocity"
)

// DeadLetters receives the records that cannot be processed. Send returns
// only once the record is safely in the dead-letter topic.
type DeadLetters interface {
	Send(ctx context.Context, src kafka.Message, f deadletter.Failure) error
}

// Config configures a Consumer. Zero values take the defaults in brackets.
type Config struct {
	// Kafka is the cluster, with the TLS and SASL every connection uses.
	Kafka   *kafkaconn.Cluster
	Topic   string
	GroupID string
	// Advertise is what this instance tells its group (see Member): its
	// HTTP URL, for cluster-check and for routing to a card's owner.
	Advertise Member
	Pipeline  *scoring.Pipeline
	DLQ       DeadLetters
	// Budget bounds the scoring of one record [2s].
	Budget time.Duration
	// MaxFutureSkew and MaxEventAge as for HTTP [5m, no bound].
	MaxFutureSkew time.Duration
	MaxEventAge   time.Duration
	// Retry is the policy for transient processing failures, after which
	// the record is dead-lettered [deadletter defaults].
	Retry deadletter.Policy
	// MaxInFlight bounds the records taken from a partition and not yet
	// processed [256]; with the reader's queue and the hand-off to the
	// partition's worker, each also MaxInFlight long, at most three times
	// that are held in memory. When they are full, fetching waits: the
	// topic is the buffer, not memory.
	MaxInFlight int
	// Lanes is how many records of one partition are processed at once,
	// spread by key so that each card's records stay in order [8].
	Lanes int
	// CommitInterval is how often processed offsets are committed [100ms].
	CommitInterval time.Duration
	// StallAfter is how long a partition's first record not yet done may
	// wait before the partition counts as stalled (see Stalls) [30s].
	StallAfter time.Duration
	// Gate, when set, is called before each record is processed. It
	// returns at once while records may be processed, and otherwise blocks
	// until they may (the service closes it while the disk is nearly
	// full), or returns ctx.Err() once ctx ends. While it blocks, the
	// partition's lanes and queue fill up and fetching waits: the records
	// stay in the topic, and are processed normally once it opens. Any
	// other error stops the consumer with that error, as a failed record
	// does, nothing from that record on being committed. Gate is called
	// from every lane of every partition at once.
	Gate   func(ctx context.Context) error
	Logger *slog.Logger
	// Now is the clock for event-time checks and for stall detection
	// [time.Now].
	Now func() time.Time
	// TracerProvider and Propagator trace each record, continuing the
	// trace context found in its headers [no-op, W3C].
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator

	// beforeCommit, in tests, runs after a record is processed and before
	// its offset is marked; an error stops the consumer there, as a crash
	// would.
	beforeCommit func(kafka.Message) error
}

// Consumer consumes the transactions topic.
type Consumer struct {
	cfg    Config
	log    *slog.Logger
	tracer trace.Tracer

	fetched, processed, duplicates, deadLettered, retried atomic.Int64
	lag                                                   atomic.Int64

	mu    sync.Mutex
	parts map[int]*progress // the partitions being worked on
}

// progress is where one partition's processing stands, kept by its worker
// and read by Stalls and PartitionLag.
type progress struct {
	mu sync.Mutex
	// head is the offset of the first record taken and not yet done, -1
	// when every record taken is done; since is when it became the head,
	// which is when the processed offset last advanced or, after an idle
	// spell, when a record arrived.
	head  int64
	since time.Time
	// next is the offset after the last record done, -1 before any.
	next int64
	// hwm is the partition's high-water mark as of the latest fetch.
	hwm int64
}

// Stall is a partition whose processing has stopped moving (see Stalls).
type Stall struct {
	Partition int
	// Offset is the partition's first record not yet done: the one being
	// waited for.
	Offset int64
	// Since is when that record became the first not done, by the
	// consumer's clock (Config.Now).
	Since time.Time
	// Lag is how many records of the partition are not yet done, from
	// Offset to its end as of the latest fetch.
	Lag int64
}

// Stats are the consumer's counters.
type Stats struct {
	Fetched      int64 // records taken from Kafka (redeliveries included)
	Processed    int64 // records scored and committed (duplicates included)
	Duplicates   int64 // records whose transaction_id was seen before
	DeadLettered int64 // records sent to the dead-letter topic
	Retried      int64 // processing attempts that failed and were retried
	Lag          int64 // messages behind the end of the topic, last known
	Stalled      int   // partitions stalled now (see Stalls)
}

// New returns a consumer; Run starts it.
func New(cfg Config) *Consumer {
	if cfg.Budget <= 0 {
		cfg.Budget = 2 * time.Second
	}
	if cfg.MaxFutureSkew <= 0 {
		cfg.MaxFutureSkew = 5 * time.Minute
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	if cfg.Lanes <= 0 {
		cfg.Lanes = 8
	}
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = 100 * time.Millisecond
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = noop.NewTracerProvider()
	}
	if cfg.Propagator == nil {
		cfg.Propagator = propagation.TraceContext{}
	}
	return &Consumer{cfg: cfg, log: cfg.Logger, tracer: cfg.TracerProvider.Tracer("github.com/fraudscore/scorer/stream"),
		parts: map[int]*progress{}}
}

// Stats returns the consumer's counters.
func (c *Consumer) Stats() Stats {
	return Stats{
		Fetched: c.fetched.Load(), Processed: c.processed.Load(), Duplicates: c.duplicates.Load(),
		DeadLettered: c.deadLettered.Load(), Retried: c.retried.Load(), Lag: c.lag.Load(),
		Stalled: len(c.Stalls()),
	}
}

// Stalls returns the partitions of this consumer that are stalled, by
// partition number; none when all is moving. A partition is stalled when
// it has records fetched and not yet done and its first such record has
// waited Config.StallAfter or longer: its processed (committed) offset has
// not advanced in that time. Nothing else of that partition is committed
// meanwhile, and its lag grows with every record produced to it.
//
// A record waits this long when its dead letter cannot be written (the
// DLQ is unreachable, or refuses even a truncated copy), or while
// Config.Gate holds it: a pause shows as a stall, its lag being as real.
// Processing itself is bounded by Budget and Retry, well under the
// default StallAfter. The stall clears as soon as that record is done.
// A partition with nothing to do is never stalled, however long it has
// been idle, and partitions not assigned to this consumer are not seen.
//
// For a readiness check:
//
//	for _, s := range c.Stalls() {
//		fmt.Printf("kafka: partition %d stalled at offset %d for %s, lag %d",
//			s.Partition, s.Offset, now.Sub(s.Since).Round(time.Second), s.Lag)
//	}
func (c *Consumer) Stalls() []Stall {
	now := c.cfg.Now()
	var out []Stall
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, pr := range c.parts {
		pr.mu.Lock()
		if pr.head >= 0 && now.Sub(pr.since) >= c.cfg.StallAfter {
			out = append(out, Stall{Partition: p, Offset: pr.head, Since: pr.since, Lag: max(pr.hwm-pr.head, 0)})
		}
		pr.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Stall) int { return cmp.Compare(a.Partition, b.Partition) })
	return out
}

// PartitionLag returns, for each partition this consumer works on, how
// many of its records are not yet done: its high-water mark as of the
// latest fetch minus the next offset to process. Unlike Stats().Lag, which
// the reader samples, it counts records fetched and waiting in memory as
// not done. A partition taken away by a rebalance keeps its last value
// until Run returns: kafka-go's reader does not say when that happens.
func (c *Consumer) PartitionLag() map[int]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[int]int64, len(c.parts))
	for p, pr := range c.parts {
		pr.mu.Lock()
		next := pr.head
		if next < 0 {
			next = pr.next
		}
		if next >= 0 {
			out[p] = max(pr.hwm-next, 0)
		}
		pr.mu.Unlock()
	}
	return out
}

// endsInterval is how often refreshEnds reads the partitions' ends.
const endsInterval = 5 * time.Second

// refreshEnds reads the last offset of every partition being worked on
// every endsInterval until ctx ends, raising each one's known end, so that
// Stalls and PartitionLag count records that were never fetched.
func (c *Consumer) refreshEnds(ctx context.Context) {
	t := time.NewTicker(endsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		parts := make([]int, 0, len(c.parts))
		for p := range c.parts {
			parts = append(parts, p)
		}
		c.mu.Unlock()
		if len(parts) == 0 {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, endsInterval)
		ends, err := c.cfg.Kafka.Ends(rctx, c.cfg.Topic, parts...)
		cancel()
		if err != nil {
			c.log.Debug("reading partition ends", "err", err)
			continue
		}
		c.mu.Lock()
		for p, end := range ends {
			if pr, ok := c.parts[p]; ok {
				pr.mu.Lock()
				pr.hwm = max(pr.hwm, end)
				pr.mu.Unlock()
			}
		}
		c.mu.Unlock()
	}
}

// track starts the progress of a partition whose worker starts.
func (c *Consumer) track(partition int) *progress {
	pr := &progress{head: -1, next: -1}
	c.mu.Lock()
	c.parts[partition] = pr
	c.mu.Unlock()
	return pr
}

// untrack forgets a partition whose worker ended: what it had taken is
// delivered again to whichever worker, here or elsewhere, reads it next.
func (c *Consumer) untrack(partition int, pr *progress) {
	c.mu.Lock()
	if c.parts[partition] == pr {
		delete(c.parts, partition)
	}
	c.mu.Unlock()
}

// took records that m was taken by the partition's worker, idle before
// when first.
func (pr *progress) took(m kafka.Message, first bool, now time.Time) {
	pr.mu.Lock()
	if first {
		pr.head, pr.since = m.Offset, now
	}
	pr.hwm = max(pr.hwm, m.HighWaterMark)
	pr.mu.Unlock()
}

// advanced records that every record up to next-1 is done and that head
// (-1: none) is the first record not done.
func (pr *progress) advanced(next, head int64, now time.Time) {
	pr.mu.Lock()
	pr.next, pr.head, pr.since = next, head, now
	pr.mu.Unlock()
}

var errStopped = errors.New("stream: consumer stopped before commit")

// The waits of the consumer's own retry loops (see retry.Backoff); the
// retries of a record's processing follow Config.Retry.
const (
	// fetchRetryWait is the wait after a failed fetch, the same after
	// every failure (jittered).
	fetchRetryWait = 500 * time.Millisecond
	// A dead letter that could not be sent is sent again after a wait
	// from dlqRetryBase, doubling per failure up to dlqRetryCap.
	dlqRetryBase = 100 * time.Millisecond
	dlqRetryCap  = 5 * time.Second
)

// readerConfig is the consumer-group reader the consumer uses; the
// passthrough benchmark reads with the same one.
func (c *Consumer) readerConfig() kafka.ReaderConfig {
	return kafka.ReaderConfig{
		Brokers:           c.cfg.Kafka.Brokers(),
		Dialer:            c.cfg.Kafka.Dialer(),
		GroupID:           c.cfg.GroupID,
		Topic:             c.cfg.Topic,
		MinBytes:          1,
		MaxBytes:          4 << 20,
		MaxWait:           100 * time.Millisecond,
		QueueCapacity:     c.cfg.MaxInFlight,
		CommitInterval:    c.cfg.CommitInterval,
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  500 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    time.Second,
		ErrorLogger:       kafka.LoggerFunc(func(f string, a ...any) { c.log.Debug("kafka reader", "msg", fmt.Sprintf(f, a...)) }),
		GroupBalancers:    GroupBalancers(c.cfg.Advertise),
	}
}

// Run consumes until ctx ends. It then stops fetching, lets each partition
// finish the record in hand, commits what was processed and leaves the
// group. Records fetched but not processed are delivered again later.
func (c *Consumer) Run(ctx context.Context) (err error) {
	r := kafka.NewReader(c.readerConfig())

	wctx, stopWorkers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	workers := map[int]chan kafka.Message{}
	var failed atomic.Value
	defer func() {
		for _, ch := range workers {
			close(ch)
		}
		wg.Wait()
		stopWorkers()
		if err := r.Close(); err != nil {
			c.log.Warn("kafka reader close", "err", err)
		}
		// A worker that failed stopped the fetch loop itself; its error is
		// known only once it has returned.
		if e, ok := failed.Load().(error); ok && err == nil {
			err = e
		}
	}()

	// The ends of the partitions, read from the brokers on their own:
	// while a partition is stalled its fetches stop, and the lag they
	// report would freeze while its backlog grows.
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.refreshEnds(wctx)
	}()

	var lastLag time.Time
	fetchRetry := retry.Backoff{Base: fetchRetryWait, Cap: fetchRetryWait}
	fetchFailures := 0 // in a row
	for {
		m, err := r.FetchMessage(wctx)
		if err != nil {
			if wctx.Err() != nil {
				if e, ok := failed.Load().(error); ok {
					return e
				}
				return nil
			}
			fetchFailures++
			c.log.Warn("kafka fetch failed; retrying", "err", err)
			retry.Sleep(wctx, fetchRetry.Next(fetchFailures)) // an end of wctx shows in the next fetch
			continue
		}
		fetchFailures = 0
		c.fetched.Add(1)
		// Stats takes locks and builds a snapshot: sample the lag, don't
		// pay for it on every record.
		if now := time.Now(); now.Sub(lastLag) > 250*time.Millisecond {
			c.lag.Store(r.Stats().Lag)
			lastLag = now
		}
		ch, ok := workers[m.Partition]
		if !ok {
			ch = make(chan kafka.Message, c.cfg.MaxInFlight)
			workers[m.Partition] = ch
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.work(wctx, r, m.Partition, ch, stopWorkers); err != nil {
					failed.Store(err)
					stopWorkers()
				}
			}()
		}
		select {
		case ch <- m:
		case <-wctx.Done():
		}
	}
}

// work processes one partition's records. Records are spread over
// Lanes by key (the card_id), each lane in order, so one card's records
// are applied in the order of the partition while the durable commits of
// different cards overlap (and group-commit together). Offsets are
// committed in partition order: only up to the first record not yet
// processed, so a crash redelivers, never skips.
func (c *Consumer) work(ctx context.Context, r *kafka.Reader, partition int, ch <-chan kafka.Message, stop func()) error {
	st := c.cfg.Pipeline.Store.NewStream(partition)
	pr := c.track(partition)
	defer c.untrack(partition, pr)
	type outcome struct {
		m   kafka.Message
		err error
	}
	const laneDepth = 16
	lanes := make([]chan kafka.Message, c.cfg.Lanes)
	// Room for every record a lane can hold, so lanes never block on it.
	results := make(chan outcome, c.cfg.Lanes*(laneDepth+1)+1)
	var wg sync.WaitGroup
	for i := range lanes {
		lanes[i] = make(chan kafka.Message, laneDepth)
		wg.Add(1)
		go func(in <-chan kafka.Message) {
			defer wg.Done()
			for m := range in {
				err := ctx.Err()
				if err == nil && c.cfg.Gate != nil {
					err = c.cfg.Gate(ctx)
				}
				if err == nil {
					err = c.process(ctx, st, m)
				}
				if err == nil && c.cfg.beforeCommit != nil {
					if e := c.cfg.beforeCommit(m); e != nil {
						err = errors.Join(errStopped, e)
					}
				}
				results <- outcome{m, err}
			}
		}(lanes[i])
	}
	defer wg.Wait()

	// pending are the offsets handed to lanes, in partition order; done
	// holds the outcomes that arrived out of order.
	var pending []int64
	done := map[int64]outcome{}
	var firstErr error
	src := ch
	// Records taken and not yet resolved stay below the room in results,
	// so a lane never blocks handing back an outcome while this loop is
	// blocked handing it a record, and within MaxInFlight.
	maxPending := min(cap(results)-1, c.cfg.MaxInFlight)
	for src != nil || len(pending) > 0 {
		var in <-chan kafka.Message
		if len(pending) < maxPending {
			in = src
		}
		select {
		case m, ok := <-in:
			if !ok {
				src = nil
				for _, l := range lanes {
					close(l)
				}
				continue
			}
			pr.took(m, len(pending) == 0, c.cfg.Now())
			pending = append(pending, m.Offset)
			lanes[laneOf(m.Key, len(lanes))] <- m
		case o := <-results:
			done[o.m.Offset] = o
			if o.err != nil && firstErr == nil && !errors.Is(o.err, context.Canceled) {
				firstErr = o.err
				stop() // stop fetching; what is queued is skipped and redelivered
			}
			var last *kafka.Message
			for len(pending) > 0 {
				h, ok := done[pending[0]]
				if !ok || h.err != nil {
					break
				}
				delete(done, pending[0])
				pending = pending[1:]
				last = &h.m
				c.processed.Add(1)
			}
			if last != nil {
				head := int64(-1)
				if len(pending) > 0 {
					head = pending[0]
				}
				pr.advanced(last.Offset+1, head, c.cfg.Now())
			}
			if last != nil && firstErr == nil {
				if err := r.CommitMessages(context.WithoutCancel(ctx), *last); err != nil {
					// Processed records are idempotent: a redelivery is a
					// duplicate, so a failed commit costs only a repeat.
					c.log.Warn("offset commit failed", "partition", partition, "offset", last.Offset, "err", err)
				}
			}
			if len(pending) > 0 {
				if h, ok := done[pending[0]]; ok && h.err != nil {
					// The head failed (or was skipped on shutdown): nothing
					// after it may be committed. Drop the rest as it comes.
					delete(done, pending[0])
					pending = pending[1:]
					firstErr = cmp.Or(firstErr, h.err)
					for len(pending) > 0 {
						if _, ok := done[pending[0]]; !ok {
							break
						}
						delete(done, pending[0])
						pending = pending[1:]
					}
				}
			}
		}
	}
	if errors.Is(firstErr, context.Canceled) {
		return nil
	}
	return firstErr
}

// laneOf maps a record key to a lane; records without a key share lane 0.
func laneOf(key []byte, n int) int {
	if len(key) == 0 || n <= 1 {
		return 0
	}
	return int(xxhash.Sum64(key) % uint64(n))
}

// process scores one record, or dead-letters it. It returns an error only
// when ctx ended before the record was either stored or dead-lettered, in
// which case its offset must not be committed.
func (c *Consumer) process(ctx context.Context, st *velocity.Stream, m kafka.Message) (err error) {
	headers := m.Headers
	ctx = c.cfg.Propagator.Extract(ctx, telemetry.KafkaHeaders{Headers: &headers})
	ctx, span := c.tracer.Start(ctx, "process "+m.Topic, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.destination.name", m.Topic),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.consumer.group.name", c.cfg.GroupID),
			attribute.String("messaging.destination.partition.id", strconv.Itoa(m.Partition)),
			attribute.Int64("messaging.kafka.offset", m.Offset),
		))
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "not processed")
		}
		span.End()
	}()
	ctx = scoring.WithSource(ctx, "kafka")
	tx, err := fraud.DecodeTransaction(m.Value, fraud.Limits{Now: c.cfg.Now(), MaxFutureSkew: c.cfg.MaxFutureSkew, MaxEventAge: c.cfg.MaxEventAge})
	if err != nil {
		class := deadletter.Validation
		var ve *fraud.ValidationError
		if errors.As(err, &ve) && len(ve.Errors) == 1 && ve.Errors[0].Field == "body" {
			class = deadletter.Decode
		}
		return c.deadLetter(ctx, m, deadletter.Failure{Class: class, Err: err, Attempts: 1})
	}
	var dup bool
	score := func(ctx context.Context) error {
		sctx, cancel := context.WithTimeout(ctx, c.cfg.Budget)
		defer cancel()
		res, _, err := c.cfg.Pipeline.ScoreStream(sctx, st, &tx)
		if err != nil {
			if !permanent(err) {
				c.retried.Add(1)
			}
			return err
		}
		dup = res.Duplicate
		return nil
	}
	for {
		attempts, err := deadletter.Retry(ctx, c.cfg.Retry, score, permanent)
		switch {
		case err == nil:
			if dup {
				c.duplicates.Add(1)
			}
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, scoring.ErrNotWritable):
			// Nothing was counted; the record waits for writes to resume
			// (the disk to have room again), as the gate makes every
			// other record wait. It is not a failure of the record.
			if c.cfg.Gate == nil {
				return err
			}
			if err := c.cfg.Gate(ctx); err != nil {
				return err
			}
			continue
		case errors.Is(err, velocity.ErrConflict):
			// The transaction_id is known with other fields: the record
			// is another transaction reusing the id, not a retry, and no
			// retry will change that.
			return c.deadLetter(ctx, m, deadletter.Failure{Class: deadletter.Conflict, Err: err, Attempts: attempts})
		}
		c.log.Error("record failed after retries; dead-lettering", "partition", m.Partition, "offset", m.Offset,
			"transaction_id", tx.ID, "attempts", attempts, "err", err)
		return c.deadLetter(ctx, m, deadletter.Failure{Class: deadletter.Processing, Err: err, Attempts: attempts})
	}
}

// permanent reports errors that no retry of the same record can change
// now: a conflicting transaction_id, or state that cannot be written until
// the disk has room again (waited for by the gate, not by retries).
func permanent(err error) bool {
	return errors.Is(err, velocity.ErrConflict) || errors.Is(err, scoring.ErrNotWritable)
}

// deadLetter sends m to the DLQ, retrying until it is there or ctx ends:
// an unprocessable record is never dropped, and its offset is committed
// only once the DLQ has it.
func (c *Consumer) deadLetter(ctx context.Context, m kafka.Message, f deadletter.Failure) error {
	b := retry.Backoff{Base: dlqRetryBase, Cap: dlqRetryCap}
	for attempt := 1; ; attempt++ {
		err := c.cfg.DLQ.Send(ctx, m, f)
		if err == nil {
			c.deadLettered.Add(1)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Warn("dead-letter send failed; retrying", "partition", m.Partition, "offset", m.Offset, "err", err)
		if err := retry.Sleep(ctx, b.Next(attempt)); err != nil {
			return err
		}
	}
}
