package deadletter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// ReplayOptions selects the dead letters Replay re-drives.
type ReplayOptions struct {
	Brokers []string
	Topic   string  // the DLQ topic
	Classes []Class // empty: all
	// From and To bound the DLQ offsets replayed, both inclusive, in every
	// partition read. From below the first retained offset starts there;
	// To < 0 means up to the end as it was when Replay started. Note that
	// the zero value of To selects offset 0 only.
	From, To int64
	// Partition is the one DLQ partition to read; -1 reads all. Note that
	// the zero value selects partition 0 only.
	Partition int
	DryRun    bool      // report what would be replayed, produce nothing
	Out       io.Writer // one line per record read [io.Discard]
}

// ReplayStats counts the records Replay read (Scanned), produced or, in a
// dry run, would have produced (Replayed), and left alone (Skipped).
// Scanned is always Replayed + Skipped.
type ReplayStats struct{ Scanned, Replayed, Skipped int }

// Replay re-drives dead letters to their source topic, named by the
// dlq.source.topic header, and returns when every selected DLQ partition
// has been read up to the end captured when it started, so records that
// fail again and come back to the DLQ during a replay are not replayed
// again by it. Partitions are read one after another, each in offset order.
//
// A replayed record keeps its key, value and original headers; the dlq.*
// headers are stripped and dlq.replayed_from = "<dlq topic>/<partition>/<offset>"
// is added. It goes to the partition it came from (dlq.source.partition),
// which keeps a card's records in the partition that holds its state
// whatever partitioner the original producer used, and to a partition
// chosen by key when that header is missing or out of range. Records
// without dlq.source.topic, or naming the DLQ itself, are skipped and
// reported. Production waits for all in-sync replicas; the source topic
// must exist.
//
// For each record read, Replay writes one line to o.Out:
//
//	partition=0 offset=7 class=decode source=transactions/3/1042 action=replayed
//
// with action one of replayed, would-replay (dry run), skipped-class,
// skipped-no-source, skipped-source-is-dlq or skipped-truncated (a copy
// cut to fit the DLQ: the original is at its source offset). On error the stats count
// what was done before it; records of a failed produce are not counted.
func Replay(ctx context.Context, o ReplayOptions) (ReplayStats, error) {
	var st ReplayStats
	if len(o.Brokers) == 0 || o.Topic == "" {
		return st, errors.New("replay: brokers and topic are required")
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	parts, err := partitions(ctx, o.Brokers, o.Topic, o.Partition)
	if err != nil {
		return st, fmt.Errorf("replay %s: %w", o.Topic, err)
	}

	d := &kafka.Dialer{Timeout: 10 * time.Second}
	spans := make([]span, 0, len(parts))
	for _, p := range parts {
		first, last, err := offsets(ctx, d, p)
		if err != nil {
			return st, fmt.Errorf("replay %s/%d: offsets: %w", o.Topic, p.ID, err)
		}
		s := span{p: p, start: max(o.From, first), stop: last}
		if o.To >= 0 {
			s.stop = min(s.stop, o.To+1)
		}
		spans = append(spans, s)
	}

	r := &replayer{o: o, d: d, st: &st}
	if !o.DryRun {
		hash := &kafka.Hash{}
		r.w = &kafka.Writer{
			Addr: kafka.TCP(o.Brokers...),
			// Back to the source partition when it still exists.
			Balancer: kafka.BalancerFunc(func(m kafka.Message, partitions ...int) int {
				if slices.Contains(partitions, m.Partition) {
					return m.Partition
				}
				return hash.Balance(m, partitions...)
			}),
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: time.Millisecond,
		}
		defer r.w.Close() // WriteMessages has returned for every record: nothing is pending
	}
	for _, s := range spans {
		if s.start >= s.stop {
			continue // nothing selected: no fetch, so no wait on an empty partition
		}
		if err := r.partition(ctx, s); err != nil {
			return st, fmt.Errorf("replay %s/%d: %w", o.Topic, s.p.ID, err)
		}
	}
	return st, nil
}

// span is the offset range [start, stop) of a DLQ partition to replay.
type span struct {
	p           kafka.Partition
	start, stop int64
}

// partitions returns the partitions of topic, sorted, or only partition
// only when only >= 0. It asks for metadata without auto-creation, so a
// mistyped topic is an error rather than a new empty topic.
func partitions(ctx context.Context, brokers []string, topic string, only int) ([]kafka.Partition, error) {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
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
	var out []kafka.Partition
	for _, p := range md.Topics[i].Partitions {
		if only < 0 || p.ID == only {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no partition %d", only)
	}
	slices.SortFunc(out, func(a, b kafka.Partition) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// offsets returns the first offset and the end (the next offset to be
// written) of p.
func offsets(ctx context.Context, d *kafka.Dialer, p kafka.Partition) (first, last int64, err error) {
	conn, err := d.DialPartition(ctx, "tcp", "", p)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	return conn.ReadOffsets()
}

type replayer struct {
	o  ReplayOptions
	d  *kafka.Dialer
	w  *kafka.Writer // nil in a dry run
	st *ReplayStats
}

const (
	fetchWait    = 500 * time.Millisecond // broker-side wait for data
	fetchTimeout = 10 * time.Second       // client-side bound on one fetch
	fetchBytes   = 4 << 20
	maxIdle      = 20 // empty fetches in a row before giving up on a partition
)

// partition replays one span, a fetched batch at a time: the batch is read
// to the end first, so producing it never holds the fetch connection open.
// The connection reads with bounded waits, so ctx is checked at least once
// per fetchWait.
func (r *replayer) partition(ctx context.Context, s span) error {
	conn, err := r.d.DialPartition(ctx, "tcp", "", s.p)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.Seek(s.start, kafka.SeekAbsolute); err != nil {
		return fmt.Errorf("seek %d: %w", s.start, err)
	}
	for off, idle := s.start, 0; off < s.stop; {
		if err := ctx.Err(); err != nil {
			return err
		}
		deadline := time.Now().Add(fetchTimeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		conn.SetReadDeadline(deadline)
		b := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: fetchBytes, MaxWait: fetchWait})
		var msgs []kafka.Message
		for {
			m, err := b.ReadMessage()
			if err != nil || m.Offset >= s.stop {
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
			if idle++; idle >= maxIdle {
				return fmt.Errorf("no records at offset %d before the end %d", off, s.stop)
			}
			continue
		}
		idle = 0
		if err := r.batch(ctx, msgs); err != nil {
			return err
		}
		off = next
		if len(msgs) > 0 {
			off = max(off, msgs[len(msgs)-1].Offset+1)
		}
	}
	return nil
}

// batch produces the selected records of msgs and then reports each.
func (r *replayer) batch(ctx context.Context, msgs []kafka.Message) error {
	actions := make([]string, len(msgs))
	var out []kafka.Message
	for i, m := range msgs {
		class, topic := header1(m, HeaderClass), header1(m, HeaderTopic)
		switch {
		case len(r.o.Classes) > 0 && !slices.Contains(r.o.Classes, Class(class)):
			actions[i] = "skipped-class"
		case topic == "":
			actions[i] = "skipped-no-source"
		case topic == r.o.Topic:
			actions[i] = "skipped-source-is-dlq"
		case header1(m, HeaderTruncated) == "true":
			// Its value is not the original's: replaying it would put a
			// cut record on the source topic. The original is at the
			// dlq.source.* coordinates while retention lasts.
			actions[i] = "skipped-truncated"
		case r.o.DryRun:
			actions[i] = "would-replay"
		default:
			actions[i] = "replayed"
			out = append(out, replayed(m))
		}
	}
	if len(out) > 0 {
		if err := r.w.WriteMessages(ctx, out...); err != nil {
			return fmt.Errorf("produce %d records from offset %d: %w", len(out), msgs[0].Offset, err)
		}
	}
	for i, m := range msgs {
		r.st.Scanned++
		if a := actions[i]; a == "replayed" || a == "would-replay" {
			r.st.Replayed++
		} else {
			r.st.Skipped++
		}
		fmt.Fprintf(r.o.Out, "partition=%d offset=%d class=%s source=%s/%s/%s action=%s\n",
			m.Partition, m.Offset, orDash(header1(m, HeaderClass)), orDash(header1(m, HeaderTopic)),
			orDash(header1(m, HeaderPartition)), orDash(header1(m, HeaderOffset)), actions[i])
	}
	return nil
}

// replayed is the record m dead-letters, addressed to its source topic and
// partition (the Writer's balancer reads Partition).
func replayed(m kafka.Message) kafka.Message {
	headers := make([]kafka.Header, 0, len(m.Headers)+1)
	for _, h := range m.Headers {
		if !strings.HasPrefix(h.Key, "dlq.") {
			headers = append(headers, h)
		}
	}
	headers = append(headers, header(HeaderReplayedFrom, fmt.Sprintf("%s/%d/%d", m.Topic, m.Partition, m.Offset)))
	partition, err := strconv.Atoi(header1(m, HeaderPartition))
	if err != nil {
		partition = -1
	}
	return kafka.Message{Topic: header1(m, HeaderTopic), Partition: partition, Key: m.Key, Value: m.Value, Headers: headers}
}

// header1 returns the value of the last header key of m, "" when absent.
func header1(m kafka.Message, key string) string {
	for i := len(m.Headers) - 1; i >= 0; i-- {
		if m.Headers[i].Key == key {
			return string(m.Headers[i].Value)
		}
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
