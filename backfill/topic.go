package backfill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/kafkaconn"
)

// TopicOptions says which records of a Kafka topic OpenTopic reads. The
// zero bounds read every partition from its first retained offset to its
// end as it was when OpenTopic was called.
type TopicOptions struct {
	// Cluster is how to reach the brokers (TLS, SASL).
	Cluster *kafkaconn.Cluster
	Topic   string
	// FromOffset and UntilOffset bound the offsets read in every
	// partition: from FromOffset (inclusive) to UntilOffset (exclusive;
	// 0: the end).
	FromOffset, UntilOffset int64
	// FromTime and ToTime bound the records read by their Kafka timestamp,
	// both inclusive, to the millisecond (the timestamps' precision); zero
	// means unbounded. They are turned into offsets with the broker's time
	// index (the first record at or after a time), and records in between
	// whose timestamp is outside the bounds (producers' clocks disagree)
	// are skipped.
	FromTime, ToTime time.Time
}

// OpenTopic returns a Source of the records of a topic's partitions
// within o's bounds, read partition after partition, each in offset
// order, with plain fetches: no consumer group, nothing committed. The
// ends are fixed when it is called, so records produced meanwhile are not
// read.
func OpenTopic(ctx context.Context, o TopicOptions) (Source, error) {
	if o.Cluster == nil || len(o.Cluster.Brokers()) == 0 || o.Topic == "" {
		return nil, errors.New("topic source: brokers and topic are required")
	}
	if o.FromOffset < 0 || o.UntilOffset < 0 {
		return nil, errors.New("topic source: offsets must not be negative")
	}
	from, to := o.FromTime.Truncate(time.Millisecond), o.ToTime.Truncate(time.Millisecond)
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return nil, errors.New("topic source: the to time is before the from time")
	}
	parts, err := o.Cluster.Partitions(ctx, o.Topic)
	if err != nil {
		return nil, fmt.Errorf("topic %s: %w", o.Topic, err)
	}
	s := &topicSource{d: o.Cluster.Dialer(), from: from, to: to}
	for _, p := range parts {
		sp, err := s.span(ctx, p, o)
		if err != nil {
			return nil, fmt.Errorf("topic %s partition %d: %w", o.Topic, p.ID, err)
		}
		if sp.start < sp.stop {
			s.spans = append(s.spans, sp)
		}
	}
	return s, nil
}

type topicSource struct {
	d        *kafka.Dialer
	from, to time.Time
	spans    []topicSpan
	conn     *kafka.Conn
	off      int64 // next offset to read in spans[0]
	idle     int
}

// topicSpan is the offsets [start, stop) of a partition to read.
type topicSpan struct {
	p           kafka.Partition
	start, stop int64
}

func (s *topicSource) span(ctx context.Context, p kafka.Partition, o TopicOptions) (topicSpan, error) {
	conn, err := s.d.DialPartition(ctx, "tcp", "", p)
	if err != nil {
		return topicSpan{}, err
	}
	defer conn.Close()
	first, last, err := conn.ReadOffsets()
	if err != nil {
		return topicSpan{}, err
	}
	sp := topicSpan{p: p, start: max(first, o.FromOffset), stop: last}
	if o.UntilOffset > 0 {
		sp.stop = min(sp.stop, o.UntilOffset)
	}
	// The time index answers with the first offset whose timestamp is at
	// or after a time, or -1 when there is none.
	if !s.from.IsZero() {
		at, err := conn.ReadOffset(s.from)
		if err != nil {
			return topicSpan{}, err
		}
		if at < 0 {
			at = last
		}
		sp.start = max(sp.start, at)
	}
	if !s.to.IsZero() {
		at, err := conn.ReadOffset(s.to.Add(time.Millisecond))
		if err != nil {
			return topicSpan{}, err
		}
		if at >= 0 {
			sp.stop = min(sp.stop, at)
		}
	}
	return sp, nil
}

const (
	fetchWait    = 500 * time.Millisecond // the broker's wait for data
	fetchTimeout = 10 * time.Second       // the client's bound on one fetch
	fetchBytes   = 4 << 20
	maxIdle      = 20 // empty fetches in a row before giving up on a partition
)

func (s *topicSource) Next(ctx context.Context, b *Block) error {
	b.reset()
	for len(b.Records) == 0 {
		if len(s.spans) == 0 {
			return io.EOF
		}
		if err := s.fetch(ctx, b); err != nil {
			sp := s.spans[0]
			return fmt.Errorf("topic %s partition %d offset %d: %w", sp.p.Topic, sp.p.ID, s.off, err)
		}
	}
	return nil
}

// fetch reads one batch of spans[0] into b, moving to the next span at
// the end of this one.
func (s *topicSource) fetch(ctx context.Context, b *Block) error {
	sp := &s.spans[0]
	if s.conn == nil {
		conn, err := s.d.DialPartition(ctx, "tcp", "", sp.p)
		if err != nil {
			return err
		}
		if _, err := conn.Seek(sp.start, kafka.SeekAbsolute); err != nil {
			conn.Close()
			return err
		}
		s.conn, s.off, s.idle = conn, sp.start, 0
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	deadline := time.Now().Add(fetchTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	s.conn.SetReadDeadline(deadline)
	batch := s.conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: fetchBytes, MaxWait: fetchWait})
	before := s.off
	for {
		m, err := batch.ReadMessage()
		if err != nil || m.Offset >= sp.stop {
			break
		}
		s.off = m.Offset + 1
		if (!s.from.IsZero() && m.Time.Before(s.from)) || (!s.to.IsZero() && m.Time.After(s.to)) {
			continue
		}
		b.Records = append(b.Records, m.Value)
	}
	// The batch's offset also moves past records compacted away, so a gap
	// at the end of the span cannot stall the loop.
	s.off = max(s.off, batch.Offset())
	if err := batch.Close(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	if s.off == before {
		if s.idle++; s.idle >= maxIdle {
			return fmt.Errorf("no records before the end %d", sp.stop)
		}
	} else {
		s.idle = 0
	}
	if s.off >= sp.stop {
		s.conn.Close()
		s.conn = nil
		s.spans = s.spans[1:]
	}
	return nil
}

func (s *topicSource) Close() error {
	if s.conn != nil {
		return s.conn.Close()
	}
	return nil
}
