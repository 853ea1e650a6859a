package service_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/service"
	"github.com/fraudscore/scorer/telemetry/telemetrytest"
)

func startInstrumented(t *testing.T) (*running, *telemetrytest.Telemetry) {
	t.Helper()
	tt := telemetrytest.New()
	return startConfig(t, service.Config{DataDir: t.TempDir(), KafkaBrokers: "embedded", Telemetry: tt.Telemetry}), tt
}

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestHTTPScoringIsTracedAndCounted(t *testing.T) {
	r, tt := startInstrumented(t)
	req, _ := http.NewRequest("POST", "http://"+r.Addr()+"/score",
		strings.NewReader(string(txJSON("tel-1", "card_t", 900000, time.Now(), ""))))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", traceparent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}

	var server trace.SpanContext
	names := map[string]bool{}
	for _, s := range tt.Spans.Ended() {
		names[s.Name()] = true
		if s.Name() == "POST /score" {
			server = s.SpanContext()
			if s.SpanKind() != trace.SpanKindServer {
				t.Errorf("POST /score span kind %v", s.SpanKind())
			}
			found := false
			for _, a := range s.Attributes() {
				if a.Key == "http.route" && a.Value.AsString() == "/score" {
					found = true
				}
			}
			if !found {
				t.Errorf("POST /score span lacks http.route=/score: %v", s.Attributes())
			}
		}
	}
	for _, want := range []string{"POST /score", "score", "velocity", "model", "commit"} {
		if !names[want] {
			t.Errorf("no %q span among %v", want, tt.SpanNames())
		}
	}
	if server.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("server span trace %s, want the caller's", server.TraceID())
	}

	if n := tt.Sum(t, "scorer.decisions", attribute.String("source", "http")); n != 1 {
		t.Errorf("scorer.decisions{source=http} = %v, want 1", n)
	}
	if n := tt.Sum(t, "scorer.reasons", attribute.String("code", "HIGH_AMOUNT")); n != 1 {
		t.Errorf("scorer.reasons{code=HIGH_AMOUNT} = %v, want 1", n)
	}
	if n := tt.Count(t, "http.server.request.duration"); n < 1 {
		t.Errorf("http.server.request.duration count = %d", n)
	}
	if n := tt.Sum(t, "scorer.admitted"); n != 1 {
		t.Errorf("scorer.admitted = %v, want 1", n)
	}

	// The alert carries the request's trace context to its consumers.
	msgs := kafkatest.WaitFor(t, r.broker, "fraud.alerts", 1, 30*time.Second)
	if tp := kafkatest.Header(msgs[0], "traceparent"); !strings.Contains(tp, "4bf92f3577b34da6a3ce929d0e0e4736") {
		t.Errorf("alert traceparent %q does not continue the request's trace", tp)
	}

	// /metrics serves the Prometheus exposition.
	mr, err := http.Get("http://" + r.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(mr.Body)
	mr.Body.Close()
	for _, want := range []string{"scorer_decisions_total", "scorer_outbox_depth", "scorer_badger_size", "scorer_admission_limit", "scorer_kafka_consumer_lag"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestKafkaRecordsContinueTheProducersTrace(t *testing.T) {
	r, tt := startInstrumented(t)
	kafkatest.Produce(t, r.broker, "transactions", kafka.Message{
		Key:     []byte("card_kt"),
		Value:   txJSON("ktel-1", "card_kt", 100, time.Now(), ""),
		Headers: []kafka.Header{{Key: "traceparent", Value: []byte(traceparent)}},
	})
	r.waitProcessed(t, "ktel-1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, s := range tt.Spans.Ended() {
			if s.Name() == "process transactions" {
				if s.SpanKind() != trace.SpanKindConsumer || s.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
					t.Errorf("consumer span kind %v trace %s", s.SpanKind(), s.SpanContext().TraceID())
				}
				if n := tt.Sum(t, "scorer.decisions", attribute.String("source", "kafka")); n != 1 {
					t.Errorf("scorer.decisions{source=kafka} = %v, want 1", n)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no consumer span among %v", tt.SpanNames())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRefusedCardNumberInPathDoesNotReachTraces(t *testing.T) {
	r, tt := startInstrumented(t)
	resp, err := http.Get("http://" + r.Addr() + "/cards/4111111111111111/velocity")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	spans := tt.Spans.Ended()
	if len(spans) == 0 {
		t.Fatal("no span recorded for the request")
	}
	for _, s := range spans {
		for _, a := range s.Attributes() {
			if strings.Contains(a.Value.Emit(), "4111111111111111") {
				t.Errorf("span %q attribute %s = %s holds the card number", s.Name(), a.Key, a.Value.Emit())
			}
		}
	}
}
