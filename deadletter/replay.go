package deadletter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/kafkaconn"
)

// ReplayOptions selects the dead letters Replay re-drives.
type ReplayOptions struct {
	Kafka   *kafkaconn.Cluster
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
// skipped-no-source, skipped-source-is-dlq, skipped-truncated (a copy
// cut to fit the DLQ) or skipped-pan-masked (a card number in it was
// masked): for the last two the original is at its source offset. On error the stats count
// what was done before it; records of a failed produce are not counted.
func Replay(ctx context.Context, o ReplayOptions) (ReplayStats, error) {
	var st ReplayStats
	if o.Kafka == nil || o.Topic == "" {
		return st, errors.New("replay: cluster and topic are required")
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	parts, err := partitions(ctx, o.Kafka, o.Topic, o.Partition)
	if err != nil {
		return st, fmt.Errorf("replay %s: %w", o.Topic, err)
	}

	spans := make([]span, 0, len(parts))
	for _, p := range parts {
		first, last, err := o.Kafka.Offsets(ctx, p)
		if err != nil {
			return st, fmt.Errorf("replay %s/%d: offsets: %w", o.Topic, p.ID, err)
		}
		s := span{p: p, start: max(o.From, first), stop: last}
		if o.To >= 0 {
			s.stop = min(s.stop, o.To+1)
		}
		spans = append(spans, s)
	}

	r := &replayer{o: o, st: &st}
	if !o.DryRun {
		// No topic: each record names its own (the source topic).
		r.w = o.Kafka.Writer("")
		hash := r.w.Balancer
		// Back to the source partition when it still exists.
		r.w.Balancer = kafka.BalancerFunc(func(m kafka.Message, partitions ...int) int {
			if slices.Contains(partitions, m.Partition) {
				return m.Partition
			}
			return hash.Balance(m, partitions...)
		})
		r.w.RequiredAcks = kafka.RequireAll
		defer r.w.Close() // WriteMessages has returned for every record: nothing is pending
	}
	for _, s := range spans {
		// A batch at a time: each is read whole before it is produced.
		if err := o.Kafka.Read(ctx, s.p, s.start, s.stop, func(msgs []kafka.Message) error { return r.batch(ctx, msgs) }); err != nil {
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
// only when only >= 0. A missing topic is an error, never created.
func partitions(ctx context.Context, c *kafkaconn.Cluster, topic string, only int) ([]kafka.Partition, error) {
	all, err := c.Partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	var out []kafka.Partition
	for _, p := range all {
		if only < 0 || p.ID == only {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no partition %d", only)
	}
	return out, nil
}

type replayer struct {
	o  ReplayOptions
	w  *kafka.Writer // nil in a dry run
	st *ReplayStats
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
		case header1(m, HeaderPANMasked) == "true":
			// A card number in it was masked: replayed, it would be
			// scored as another card, or refused, instead of the payment
			// it was. The original is at the dlq.source.* coordinates.
			actions[i] = "skipped-pan-masked"
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
