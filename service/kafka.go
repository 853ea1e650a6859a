package service

import (
	"context"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/alerts"
	"github.com/fraudscore/scorer/deadletter"
	"github.com/fraudscore/scorer/outbox"
	"github.com/fraudscore/scorer/retry"
	"github.com/fraudscore/scorer/stream"
)

// attachKafka builds the Kafka side on s.kafka: the outboxes of alerts,
// closed windows and late events with their relays, the dead-letter writer
// and the consumer. Run starts them (see runKafka).
func (s *Service) attachKafka() error {
	var err error
	if s.outbox, err = outbox.Open(s.db, s.store, alerts.Prefix); err != nil {
		return err
	}
	s.pipeline.Outbox = alerts.New(s.outbox)
	em := &emitter{}
	if em.windows, err = outbox.Open(s.db, s.store, windowsPrefix); err != nil {
		return err
	}
	if em.late, err = outbox.Open(s.db, s.store, latePrefix); err != nil {
		return err
	}
	s.store.SetEmitter(em)
	s.relays = []*outbox.Relay{
		outbox.NewRelay(em.windows, outbox.RelayConfig{Kafka: s.kafka, Topic: s.cfg.TopicWindows, IDHeader: "window_id",
			Logger: s.cfg.Logger, TracerProvider: s.tel.TracerProvider}),
		outbox.NewRelay(em.late, outbox.RelayConfig{Kafka: s.kafka, Topic: s.cfg.TopicLate, IDHeader: "transaction_id",
			Logger: s.cfg.Logger, TracerProvider: s.tel.TracerProvider}),
	}
	s.relay = outbox.NewRelay(s.outbox, outbox.RelayConfig{Kafka: s.kafka, Topic: s.cfg.TopicAlerts, IDHeader: alerts.IDHeader, Logger: s.cfg.Logger,
		TracerProvider: s.tel.TracerProvider})
	s.dlq = deadletter.NewWriter(s.kafka, s.cfg.TopicDLQ)
	s.dlq.Logger = s.cfg.Logger
	s.consumer = stream.New(stream.Config{
		Kafka: s.kafka, Topic: s.cfg.TopicTransactions, GroupID: s.cfg.GroupID, Advertise: stream.Member{URL: s.cfg.AdvertisedURL},
		Pipeline: s.pipeline, DLQ: s.dlq, Budget: s.cfg.Budget, MaxFutureSkew: s.cfg.MaxFutureSkew, MaxEventAge: s.cfg.MaxEventAge,
		Gate: s.disk.Wait, StallAfter: s.cfg.KafkaStallAfter, Logger: s.cfg.Logger,
		TracerProvider: s.tel.TracerProvider, Propagator: s.tel.Propagator,
	})
	return nil
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
