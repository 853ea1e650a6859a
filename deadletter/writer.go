package deadletter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/kafkaconn"
)

// The headers a truncated dead letter carries on top of those of Record.
// The source record itself stays readable at dlq.source.topic/partition/
// offset while the source topic's retention lasts; size and digest let an
// operator check that it is the one.
const (
	// HeaderTruncated is "true" on a dead letter that is not a byte for
	// byte copy of its source record.
	HeaderTruncated = "dlq.truncated"
	// HeaderOriginalSize is the source value's length in bytes (decimal).
	HeaderOriginalSize = "dlq.original.size"
	// HeaderOriginalSHA256 is the hex SHA-256 of the source value.
	HeaderOriginalSHA256 = "dlq.original.sha256"
	// HeaderDroppedHeaders is how many of the source record's headers were
	// left out; absent when none were.
	HeaderDroppedHeaders = "dlq.original.dropped_headers"
)

// Defaults of the Writer's bounds on a truncated copy.
const (
	DefaultMaxValueBytes  = 64 << 10
	DefaultMaxHeaderBytes = 16 << 10
)

// maxBareKey bounds the key of the last-resort copy, which has no value
// and no original headers: a card_id is far shorter, so only a key that is
// itself the problem is cut.
const maxBareKey = 1 << 10

// batchBytes is the Writer's local bound on a produce batch. It equals
// kafka-go's default and sits just under the broker's default
// message.max.bytes (1048588), so kafka-go never groups concurrent dead
// letters into a batch a default broker refuses as a whole: a refusal is
// about the one record. A record over it fails locally with a
// kafka.MessageTooLargeError, which Send treats exactly as the broker's
// refusal. The price: a DLQ topic configured for records over 1 MiB still
// gets truncated copies of those.
const batchBytes = 1 << 20

// Writer sends dead-letter records to the DLQ topic. Send is synchronous
// and waits for all in-sync replicas, so a caller may commit the source
// offset as soon as Send returned nil. A Writer is safe for concurrent use.
//
// A dead letter the DLQ refuses as too large (the source record was close
// to the limit and the dlq.* headers pushed it over, or the DLQ topic has a
// smaller max.message.bytes than the source) is written truncated instead,
// so that one oversize record cannot stall its partition: see Send.
type Writer struct {
	// Now stamps dlq.failed_at [time.Now]. Set it before the first Send.
	Now func() time.Time
	// MaxValueBytes is how much of the value (and of the key) a truncated
	// copy keeps [DefaultMaxValueBytes]. Set it before the first Send.
	MaxValueBytes int
	// MaxHeaderBytes bounds the source headers a truncated copy keeps,
	// keys and values together: they are kept in order while they fit, the
	// others dropped [DefaultMaxHeaderBytes]. Set it before the first Send.
	MaxHeaderBytes int
	// Logger reports truncations, with the source coordinates and sizes,
	// never key, value or headers [slog.Default()].
	Logger *slog.Logger

	w *kafka.Writer

	mu        sync.Mutex
	counts    map[Class]int64
	truncated int64
}

// NewWriter returns a Writer to topic on the cluster c. It connects on
// the first Send; the topic must exist (it is not auto-created).
func NewWriter(c *kafkaconn.Cluster, topic string) *Writer {
	// By the original key: one card's dead letters stay in order. Each Send
	// is one record waited for, and the cluster's writer lingers a
	// millisecond, not kafka-go's second.
	w := c.Writer(topic)
	w.RequiredAcks = kafka.RequireAll
	w.BatchBytes = batchBytes
	return &Writer{Now: time.Now, w: w, counts: map[Class]int64{}}
}

// Send writes the dead-letter record for src (see Record) and returns once
// the DLQ has it. After an error the record may or may not be in the DLQ
// (an acknowledgement can be lost): the caller retries, a duplicate dead
// letter being harmless, or stops without committing src.
//
// When the record is refused as too large, by the broker or by the
// client's own bound, Send writes a truncated copy instead: key and value
// cut to MaxValueBytes, the source headers that fit in MaxHeaderBytes,
// Record's dlq.* headers, and HeaderTruncated, HeaderOriginalSize,
// HeaderOriginalSHA256 (and HeaderDroppedHeaders when headers were left
// out). If that is refused as too large too, the last resort has no value
// and no source headers, only the dlq.* ones and a key of at most 1 KiB.
// Only a DLQ topic whose max.message.bytes cannot hold that (a few KiB at
// most) makes Send fail for size, every time; its caller then waits, and
// shows as stalled. Any other error is returned as it is, for the caller
// to retry.
func (w *Writer) Send(ctx context.Context, src kafka.Message, f Failure) error {
	m := Record(src, f, w.Now())
	err := w.w.WriteMessages(ctx, m)
	var sent *kafka.Message // the truncated copy, when one was written
	for _, bare := range []bool{false, true} {
		if !tooLarge(err) {
			break
		}
		t := w.truncatedCopy(m, src.Value, bare)
		sent = &t
		err = w.w.WriteMessages(ctx, t)
	}
	if err != nil {
		return fmt.Errorf("dead-letter %s/%d/%d to %s: %w", src.Topic, src.Partition, src.Offset, w.w.Topic, err)
	}
	class := f.Class
	if class == "" {
		class = Processing
	}
	w.mu.Lock()
	w.counts[class]++
	if sent != nil {
		w.truncated++
	}
	w.mu.Unlock()
	if sent != nil {
		log := w.Logger
		if log == nil {
			log = slog.Default()
		}
		log.Warn("dead letter too large for the DLQ; wrote a truncated copy",
			"source_topic", src.Topic, "source_partition", src.Partition, "source_offset", src.Offset,
			"class", string(class), "original_value_bytes", len(src.Value), "written_value_bytes", len(sent.Value),
			"dropped_headers", header0(*sent, HeaderDroppedHeaders))
	}
	return nil
}

// tooLarge reports whether err says the record is too large to write:
// kafka-go's own bound (kafka.MessageTooLargeError, which unwraps to
// MessageSizeTooLarge) or the broker's refusal, which kafka-go returns as
// kafka.WriteErrors holding a wrapped MessageSizeTooLarge (kfake and Kafka
// answer code 10) or RecordListTooLarge. WriteErrors does not unwrap, so
// its entries are looked at one by one.
func tooLarge(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, kafka.MessageSizeTooLarge) || errors.Is(err, kafka.RecordListTooLarge) {
		return true
	}
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && tooLarge(e) {
				return true
			}
		}
	}
	return false
}

// truncatedCopy returns m cut down to fit (see Send); bare is the last
// resort. original is the source record's value: the size and hash
// headers describe it, not m's (masked) value, so that an operator can
// match them with the record at the source offset. The slices it returns
// share memory with m's and are never written to.
func (w *Writer) truncatedCopy(m kafka.Message, original []byte, bare bool) kafka.Message {
	maxValue := cmpOr(w.MaxValueBytes, DefaultMaxValueBytes)
	budget := cmpOr(w.MaxHeaderBytes, DefaultMaxHeaderBytes)
	key, value := m.Key, m.Value
	if bare {
		// An empty value, not nil: kafka-go writes nil as null, a
		// tombstone. No source header, not even an empty one.
		key, value, budget = cut(key, maxBareKey), []byte{}, -1
	} else {
		key, value = cut(key, maxValue), cut(value, maxValue)
	}
	sum := sha256.Sum256(original)
	// Record puts the source headers first and its own after them; keep
	// that order. Its own are told by their keys: Record drops source
	// headers with those keys, so any here are Record's.
	var kept, own []kafka.Header
	dropped := 0
	for _, h := range m.Headers {
		switch n := len(h.Key) + len(h.Value); {
		case slices.Contains(dlqHeaders, h.Key):
			own = append(own, h)
		case n <= budget:
			kept = append(kept, h)
			budget -= n
		default:
			dropped++
		}
	}
	headers := append(kept, own...)
	headers = append(headers,
		header(HeaderTruncated, "true"),
		header(HeaderOriginalSize, strconv.Itoa(len(original))),
		header(HeaderOriginalSHA256, hex.EncodeToString(sum[:])),
	)
	if dropped > 0 {
		headers = append(headers, header(HeaderDroppedHeaders, strconv.Itoa(dropped)))
	}
	return kafka.Message{Key: key, Value: value, Headers: headers, Time: m.Time}
}

func cut(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n:n]
	}
	return b
}

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// header0 is the value of header k of m, "0" when absent.
func header0(m kafka.Message, k string) string {
	for _, h := range m.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return "0"
}

// Counts returns how many records this Writer has dead-lettered, per class.
// Truncated copies count as dead-lettered.
func (w *Writer) Counts() map[Class]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.counts)
}

// Truncated returns how many of the dead letters counted by Counts were
// written as truncated copies (see Send).
func (w *Writer) Truncated() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.truncated
}

// Close flushes and closes the connections. Send must not be called after.
func (w *Writer) Close() error { return w.w.Close() }
