// Package alerts turns review and decline decisions into alerts on Kafka,
// once each: an alert is written to an outbox (package outbox) in the same
// Badger transaction as its result, and the outbox's relay publishes it to
// the alerts topic with key card_id, the alert JSON as value, and headers
// alert_id, transaction_id, content-type and the W3C traceparent of the
// request that raised it.
package alerts

import (
	"context"
	"encoding/json"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/kv"
	"github.com/fraudscore/scorer/outbox"
	"github.com/fraudscore/scorer/velocity"
)

// Prefix is the Badger key prefix of the alerts' outbox.
const Prefix = kv.PrefixAlerts

// IDHeader is the header that carries an alert's id.
const IDHeader = "alert_id"

// Outbox writes alerts to an outbox. It implements scoring.Outbox.
type Outbox struct {
	ob  *outbox.Outbox
	now func() time.Time
}

// New returns the alerts' side of ob.
func New(ob *outbox.Outbox) *Outbox { return &Outbox{ob: ob, now: time.Now} }

// Build returns the alert for an alerting result.
func Build(tx *fraud.Transaction, r *fraud.Result, now time.Time) fraud.Alert {
	return fraud.Alert{
		AlertID:       fraud.AlertID(tx.ID),
		TransactionID: tx.ID,
		CardID:        tx.CardID,
		Score:         r.Score,
		Decision:      r.Decision,
		Reasons:       r.Reasons,
		Features:      r.Features,
		ModelVersion:  r.ModelVersion,
		EventTime:     tx.EventTime,
		CreatedAt:     now.UTC(),
	}
}

// Entries returns the outbox entry of r's alert, to be committed with it.
func (o *Outbox) Entries(ctx context.Context, tx *fraud.Transaction, r *fraud.Result) ([]velocity.Entry, error) {
	a := Build(tx, r, o.now())
	body, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	h := []kafka.Header{
		{Key: "transaction_id", Value: []byte(tx.ID)},
		{Key: "content-type", Value: []byte("application/json")},
	}
	if tp := traceparent(ctx); tp != "" {
		h = append(h, kafka.Header{Key: "traceparent", Value: []byte(tp)})
	}
	return []velocity.Entry{o.ob.Entry(outbox.Message{ID: a.AlertID, Key: []byte(tx.CardID), Value: body, Headers: h})}, nil
}

// Committed tells the outbox that entries are in Badger.
func (o *Outbox) Committed(entries []velocity.Entry) { o.ob.Committed(entries) }

// traceparentKey is how a caller puts a W3C traceparent on the context for
// the alert to carry into the Kafka headers.
type traceparentKey struct{}

// WithTraceparent returns ctx carrying a W3C traceparent value.
func WithTraceparent(ctx context.Context, tp string) context.Context {
	return context.WithValue(ctx, traceparentKey{}, tp)
}

// traceparent is the W3C trace context of ctx's span (or one set with
// WithTraceparent), so that alert consumers can join the trace.
func traceparent(ctx context.Context) string {
	if tp, ok := ctx.Value(traceparentKey{}).(string); ok {
		return tp
	}
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c["traceparent"]
}
