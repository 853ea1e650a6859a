package kafkaconn

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// adminTimeout bounds one metadata or offsets request.
const adminTimeout = 10 * time.Second

// EnsureTopics creates the topics that do not exist yet, through the
// cluster's controller. Existing topics are left as they are.
func (c *Cluster) EnsureTopics(ctx context.Context, topics ...kafka.TopicConfig) error {
	d := c.Dialer()
	conn, err := c.dialAny(ctx, d)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("find controller: %w", err)
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return fmt.Errorf("dial controller: %w", c.explain(net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)), err))
	}
	defer cc.Close()
	for _, t := range topics {
		if err := cc.CreateTopics(t); err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t.Topic, err)
		}
	}
	return nil
}

// dialAny connects to the first broker that answers.
func (c *Cluster) dialAny(ctx context.Context, d *kafka.Dialer) (*kafka.Conn, error) {
	var errs []error
	for _, b := range c.brokers {
		conn, err := d.DialContext(ctx, "tcp", b)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, c.explain(b, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("dial kafka: %w", errors.Join(errs...))
}

// Partitions returns the partitions of topic sorted by ID. It asks for
// metadata without auto-creation, so a missing (or mistyped) topic is
// kafka.UnknownTopicOrPartition rather than a new empty topic.
func (c *Cluster) Partitions(ctx context.Context, topic string) ([]kafka.Partition, error) {
	md, err := c.client(adminTimeout).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(md.Topics, func(t kafka.Topic) bool { return t.Name == topic })
	if i < 0 {
		return nil, kafka.UnknownTopicOrPartition
	}
	if err := md.Topics[i].Error; err != nil {
		return nil, err
	}
	out := slices.Clone(md.Topics[i].Partitions)
	slices.SortFunc(out, func(a, b kafka.Partition) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Ends returns the end offset (the offset the next record will get) of
// each of the given partitions of topic, or of all its partitions when
// none is given. A partition whose end could not be read is left out.
func (c *Cluster) Ends(ctx context.Context, topic string, partitions ...int) (map[int]int64, error) {
	if len(partitions) == 0 {
		ps, err := c.Partitions(ctx, topic)
		if err != nil {
			return nil, err
		}
		if len(ps) == 0 {
			return nil, fmt.Errorf("topic %s has no partitions", topic)
		}
		for _, p := range ps {
			partitions = append(partitions, p.ID)
		}
	}
	reqs := make([]kafka.OffsetRequest, len(partitions))
	for i, p := range partitions {
		reqs[i] = kafka.LastOffsetOf(p)
	}
	resp, err := c.client(adminTimeout).ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, err
	}
	out := make(map[int]int64, len(partitions))
	var errs []error
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			errs = append(errs, fmt.Errorf("partition %d: %w", po.Partition, po.Error))
			continue
		}
		out[po.Partition] = po.LastOffset
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Offsets returns the first offset still retained of p and its end (the
// offset the next record will get).
func (c *Cluster) Offsets(ctx context.Context, p kafka.Partition) (first, end int64, err error) {
	conn, err := c.Dialer().DialPartition(ctx, "tcp", "", p)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	return conn.ReadOffsets()
}

// Read bounds, for each fetch.
const (
	readWait    = 500 * time.Millisecond // broker-side wait for data
	readTimeout = 10 * time.Second       // client-side bound on one fetch
	readBytes   = 4 << 20
	readMaxIdle = 20 // empty fetches in a row before giving up
)

// Read reads the records of partition p from offset start up to stop
// (exclusive) and hands them to fn a fetched batch at a time, in offset
// order; a batch is read whole before fn sees it, so fn may take its time
// (produce, say) without holding a fetch open. It returns fn's first
// error, or an error when ctx ends or when the partition yields no record
// before stop after repeated fetches. Offsets with no record (compacted
// away, or control records) are skipped.
func (c *Cluster) Read(ctx context.Context, p kafka.Partition, start, stop int64, fn func([]kafka.Message) error) error {
	if start >= stop {
		return nil // nothing selected: no fetch, so no wait on an empty partition
	}
	conn, err := c.Dialer().DialPartition(ctx, "tcp", "", p)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.Seek(start, kafka.SeekAbsolute); err != nil {
		return fmt.Errorf("seek %d: %w", start, err)
	}
	for off, idle := start, 0; off < stop; {
		if err := ctx.Err(); err != nil {
			return err
		}
		deadline := time.Now().Add(readTimeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		conn.SetReadDeadline(deadline)
		b := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: readBytes, MaxWait: readWait})
		var msgs []kafka.Message
		for {
			m, err := b.ReadMessage()
			if err != nil || m.Offset >= stop {
				break
			}
			msgs = append(msgs, m)
		}
		// The batch offset also moves past records that were compacted
		// away, so a gap at the end of the range cannot stall the loop.
		next := b.Offset()
		if err := b.Close(); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("fetch at %d: %w", off, err)
		}
		if next <= off && len(msgs) == 0 {
			if idle++; idle >= readMaxIdle {
				return fmt.Errorf("no records at offset %d before the end %d", off, stop)
			}
			continue
		}
		idle = 0
		if len(msgs) > 0 {
			if err := fn(msgs); err != nil {
				return err
			}
		}
		off = next
		if len(msgs) > 0 {
			off = max(off, msgs[len(msgs)-1].Offset+1)
		}
	}
	return nil
}
