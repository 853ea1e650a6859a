package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fraudscore/scorer/api"
)

// readyChecks are what GET /readyz reports on: the store is open, the
// disk has room, and Kafka (when on) is reachable with its topics created
// and no partition stalled.
func (s *Service) readyChecks() map[string]api.Check {
	return map[string]api.Check{
		"store": func(context.Context) error {
			if s.db.IsClosed() {
				return errors.New("closed")
			}
			return nil
		},
		"disk":  func(context.Context) error { return s.disk.Writable() },
		"kafka": s.kafkaReady,
	}
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
