package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/kafkaconn"
)

// KafkaConfig configures a KafkaTarget.
type KafkaConfig struct {
	// Kafka is the cluster, with the TLS and SASL every connection uses.
	Kafka       *kafkaconn.Cluster
	Topic       string // transactions topic; default "transactions"
	AlertsTopic string // default "fraud.alerts"; "" after defaults means no end-to-end timing
	RunID       string // only alerts for this run's transaction ids are counted
	MaxInFlight int    // producer batch size; default 256
	// Drain is how long Finish waits, after the last send, for the alerts of
	// fraud-labelled transactions; default 5s.
	Drain   time.Duration
	Timeout time.Duration // produce timeout; default 10s
}

// KafkaTarget produces each transaction to the transactions topic (key
// card_id, header transaction_id) with acks from the leader, and times the
// whole Kafka path by reading the alerts topic: for every fraud-labelled
// transaction it sent, the time from the due time to the alert carrying its
// transaction_id header is the end-to-end latency. Send's outcome (and so
// the report's latency and service time) is the produce acknowledgement.
type KafkaTarget struct {
	cfg    KafkaConfig
	w      *kafka.Writer
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	pending map[string]time.Time // fraud-labelled, sent, alert not yet seen: due time
	matched map[string]bool      // this run's transaction ids that got an alert
	e2e     *hdr.Histogram
	det     Detection
	acked   int64 // acknowledged non-fraud sends
	readErr error
}

var (
	_ Target   = (*KafkaTarget)(nil)
	_ Finisher = (*KafkaTarget)(nil)
)

// NewKafkaTarget connects to the brokers. It positions a reader at the end
// of every partition of the alerts topic before returning, so no alert of
// the run can be missed; the topics must exist.
func NewKafkaTarget(ctx context.Context, cfg KafkaConfig) (*KafkaTarget, error) {
	if cfg.Kafka == nil {
		return nil, errors.New("kafka: no cluster")
	}
	if cfg.Topic == "" {
		cfg.Topic = "transactions"
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 5 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	w := cfg.Kafka.Writer(cfg.Topic) // by card_id, as the service expects
	w.RequiredAcks = kafka.RequireOne
	w.BatchSize = cfg.MaxInFlight
	w.WriteTimeout, w.ReadTimeout = cfg.Timeout, cfg.Timeout
	t := &KafkaTarget{
		cfg:     cfg,
		w:       w,
		pending: map[string]time.Time{},
		matched: map[string]bool{},
		e2e:     newHist(),
	}
	if cfg.AlertsTopic == "" {
		return t, nil
	}
	offsets, err := cfg.Kafka.Ends(ctx, cfg.AlertsTopic)
	if err != nil {
		t.w.Close()
		return nil, fmt.Errorf("kafka alerts topic %s: %w", cfg.AlertsTopic, err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	for p, off := range offsets {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: cfg.Kafka.Brokers(), Dialer: cfg.Kafka.Dialer(), Topic: cfg.AlertsTopic, Partition: p,
			MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond,
		})
		if err := r.SetOffset(off); err != nil {
			r.Close()
			t.Close()
			return nil, err
		}
		t.wg.Go(func() {
			defer r.Close()
			for {
				m, err := r.ReadMessage(rctx)
				if err != nil {
					if rctx.Err() == nil {
						t.mu.Lock()
						t.readErr = err
						t.mu.Unlock()
					}
					return
				}
				t.alert(m, time.Now())
			}
		})
	}
	return t, nil
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func (t *KafkaTarget) alert(m kafka.Message, now time.Time) {
	id := header(m, "transaction_id")
	if !strings.HasPrefix(id, t.cfg.RunID+"-") {
		return // another run's, or another producer's
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.matched[id] {
		return // a redelivered alert
	}
	t.matched[id] = true
	if due, ok := t.pending[id]; ok {
		delete(t.pending, id)
		recordDur(t.e2e, now.Sub(due))
		t.det.TP++
		return
	}
	t.det.FP++
}

// Send produces ev.Tx and waits for the acknowledgement.
func (t *KafkaTarget) Send(ctx context.Context, ev *Event) Outcome {
	value, err := json.Marshal(&ev.Tx)
	if err != nil {
		return Outcome{Status: "error", Err: "encode: " + err.Error()}
	}
	if ev.Fraud {
		// Before the produce: the alert may arrive before the ack.
		t.mu.Lock()
		t.pending[ev.Tx.ID] = ev.Due
		t.mu.Unlock()
	}
	err = t.w.WriteMessages(ctx, kafka.Message{
		Key:   []byte(ev.Tx.CardID),
		Value: value,
		Headers: []kafka.Header{
			{Key: "transaction_id", Value: []byte(ev.Tx.ID)},
			{Key: "content-type", Value: []byte("application/json")},
		},
	})
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		delete(t.pending, ev.Tx.ID)
		return Outcome{Status: "error", Err: "produce: " + err.Error()}
	}
	if !ev.Fraud {
		t.acked++
	}
	return Outcome{Status: "acked", OK: true}
}

// Finish waits up to Drain for the alerts of the fraud-labelled
// transactions, stops the readers and fills the report's end-to-end
// latency and detection (positive = an alert was seen).
func (t *KafkaTarget) Finish(ctx context.Context, rep *Report) error {
	defer t.Close()
	if t.cancel == nil {
		return nil
	}
	deadline := time.Now().Add(t.cfg.Drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		t.mu.Lock()
		n := len(t.pending)
		t.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.cancel()
	t.wg.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.det.FN = int64(len(t.pending))
	t.det.TN = max(t.acked-t.det.FP, 0)
	t.det.finish()
	rep.Detection = t.det
	p := percentiles(t.e2e)
	rep.EndToEnd = &p
	if t.readErr != nil {
		return fmt.Errorf("kafka alerts reader: %w", t.readErr)
	}
	return nil
}

// Close stops the readers and closes the producer. It is safe to call
// more than once.
func (t *KafkaTarget) Close() error {
	if t.cancel != nil {
		t.cancel()
	}
	t.wg.Wait()
	return t.w.Close()
}
