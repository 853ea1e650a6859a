package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/fraudscore/scorer/telemetry"
	"github.com/fraudscore/scorer/telemetry/telemetrytest"
)

// testTimeout bounds every test; none should come close.
const testTimeout = 10 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// envMap is a Config.Env backed by a map.
func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func setup(t *testing.T, env map[string]string) *telemetry.Telemetry {
	t.Helper()
	tel, err := telemetry.Setup(testContext(t), telemetry.Config{
		ServiceName: "scorer-test", ServiceVersion: "v0.0.0-test", Env: envMap(env),
	})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := tel.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return tel
}

func TestSetupWithoutOTLPCreatesProviders(t *testing.T) {
	tel := setup(t, nil)
	if tel.TracerProvider == nil || tel.MeterProvider == nil || tel.Propagator == nil || tel.MetricsHandler == nil || tel.Shutdown == nil {
		t.Fatalf("Setup left a field nil: %+v", tel)
	}
	_, span := tel.TracerProvider.Tracer("test").Start(testContext(t), "op")
	defer span.End()
	if !span.SpanContext().IsValid() {
		t.Errorf("span context is not valid: spans must carry trace ids even without an exporter")
	}
	got := tel.Propagator.Fields()
	for _, want := range []string{"traceparent", "baggage"} {
		if !slices.Contains(got, want) {
			t.Errorf("Propagator.Fields() = %v, want it to contain %q", got, want)
		}
	}
}

func TestSetupRejectsBadEndpoint(t *testing.T) {
	_, err := telemetry.Setup(testContext(t), telemetry.Config{
		ServiceName: "scorer-test",
		Env:         envMap(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}),
	})
	if err == nil {
		t.Fatal("Setup with an endpoint without scheme: got nil error")
	}
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Timeout: testTimeout}
	resp, err := client.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read /metrics: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d, body %s", resp.StatusCode, body)
	}
	return string(body)
}

func TestMetricsHandlerServesPrometheusText(t *testing.T) {
	tel := setup(t, nil)
	meter := tel.MeterProvider.Meter("github.com/fraudscore/scorer/telemetry_test")
	decisions, err := meter.Int64Counter("scorer.decisions", metric.WithUnit("{decision}"), metric.WithDescription("Decisions made."))
	if err != nil {
		t.Fatal(err)
	}
	decisions.Add(testContext(t), 3, metric.WithAttributes(attribute.String("decision", "decline")))
	latency, err := meter.Float64Histogram("scorer.score.duration", metric.WithUnit("s"))
	if err != nil {
		t.Fatal(err)
	}
	latency.Record(testContext(t), 0.012)

	body := scrape(t, tel.MetricsHandler)
	for _, want := range []string{
		"# TYPE scorer_decisions_total counter",
		`scorer_decisions_total{decision="decline",otel_scope_name="github.com/fraudscore/scorer/telemetry_test"`,
		"# TYPE scorer_score_duration_seconds histogram",
		"scorer_score_duration_seconds_count{",
		`target_info{`,
		`service_name="scorer-test"`,
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics does not contain %q; got:\n%s", want, body)
		}
	}
}

// otlpCollector is a loopback OTLP/HTTP endpoint that records what it got.
type otlpCollector struct {
	mu     sync.Mutex
	posts  map[string]int // path -> POST count
	traces []*coltracepb.ExportTraceServiceRequest
}

func (c *otlpCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.posts[r.URL.Path]++
	if r.URL.Path == "/v1/traces" {
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.traces = append(c.traces, &req)
	}
	// An empty Export*ServiceResponse is a zero-length protobuf message.
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (c *otlpCollector) spanNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for _, req := range c.traces {
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					names = append(names, s.GetName())
				}
			}
		}
	}
	return names
}

func TestShutdownExportsOverOTLP(t *testing.T) {
	collector := &otlpCollector{posts: map[string]int{}}
	srv := httptest.NewServer(collector)
	defer srv.Close()

	tel, err := telemetry.Setup(testContext(t), telemetry.Config{
		ServiceName: "scorer-test",
		Env:         envMap(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL}),
	})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	ctx := testContext(t)
	_, span := tel.TracerProvider.Tracer("test").Start(ctx, "score transaction")
	span.End()
	counter, err := tel.MeterProvider.Meter("test").Int64Counter("scorer.decisions")
	if err != nil {
		t.Fatal(err)
	}
	counter.Add(ctx, 1)

	if err := tel.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	collector.mu.Lock()
	posts := map[string]int{}
	for k, v := range collector.posts {
		posts[k] = v
	}
	collector.mu.Unlock()
	if posts["/v1/traces"] == 0 {
		t.Errorf("no POST to /v1/traces; posts by path: %v", posts)
	}
	if posts["/v1/metrics"] == 0 {
		t.Errorf("no POST to /v1/metrics; posts by path: %v", posts)
	}
	if got := collector.spanNames(); !slices.Contains(got, "score transaction") {
		t.Errorf("exported spans = %v, want %q among them", got, "score transaction")
	}
}

func TestLogHandler(t *testing.T) {
	tel := setup(t, nil)
	ctx, span := tel.TracerProvider.Tracer("test").Start(testContext(t), "op")
	defer span.End()

	tests := []struct {
		name      string
		give      context.Context
		wantTrace string
		wantSpan  string
	}{
		{"context with a span gets its ids", ctx, span.SpanContext().TraceID().String(), span.SpanContext().SpanID().String()},
		{"context without a span gets none", testContext(t), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "test")
			logger.InfoContext(tt.give, "scored", "transaction_id", "tx-1")

			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("decode log line %q: %v", buf.String(), err)
			}
			for key, want := range map[string]string{"trace_id": tt.wantTrace, "span_id": tt.wantSpan} {
				got, ok := rec[key]
				switch {
				case want == "" && ok:
					t.Errorf("%s = %v, want it absent", key, got)
				case want != "" && got != want:
					t.Errorf("%s = %v, want %s", key, got, want)
				}
			}
			if rec["component"] != "test" || rec["transaction_id"] != "tx-1" {
				t.Errorf("other attributes lost: %v", rec)
			}
		})
	}
}

func TestKafkaHeadersRoundTrip(t *testing.T) {
	tel := setup(t, nil)
	ctx, span := tel.TracerProvider.Tracer("test").Start(testContext(t), "produce")
	defer span.End()

	msg := kafka.Message{Headers: []kafka.Header{
		{Key: "content-type", Value: []byte("application/json")},
		{Key: "traceparent", Value: []byte("stale")},
	}}
	original := msg.Headers
	tel.Propagator.Inject(ctx, telemetry.KafkaHeaders{Headers: &msg.Headers})

	var traceparents int
	for _, h := range msg.Headers {
		if h.Key == "traceparent" {
			traceparents++
		}
	}
	if traceparents != 1 {
		t.Errorf("headers after inject = %v, want exactly one traceparent", msg.Headers)
	}
	if string(original[1].Value) != "stale" {
		t.Errorf("inject modified the original header slice: %v", original)
	}

	got := trace.SpanContextFromContext(tel.Propagator.Extract(testContext(t), telemetry.KafkaHeaders{Headers: &msg.Headers}))
	if !got.IsValid() || !got.IsRemote() {
		t.Fatalf("extracted span context = %+v, want a valid remote one", got)
	}
	if got.TraceID() != span.SpanContext().TraceID() {
		t.Errorf("extracted trace id = %s, want %s", got.TraceID(), span.SpanContext().TraceID())
	}
	if got.SpanID() != span.SpanContext().SpanID() {
		t.Errorf("extracted span id = %s, want %s", got.SpanID(), span.SpanContext().SpanID())
	}
}

func TestKafkaHeadersCarrier(t *testing.T) {
	hs := []kafka.Header{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}, {Key: "a", Value: []byte("3")}}
	c := telemetry.KafkaHeaders{Headers: &hs}

	if got := c.Get("a"); got != "1" {
		t.Errorf(`Get("a") = %q, want "1" (the first)`, got)
	}
	if got := c.Get("missing"); got != "" {
		t.Errorf(`Get("missing") = %q, want ""`, got)
	}
	if got, want := c.Keys(), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("Keys() = %v, want %v", got, want)
	}
	c.Set("a", "new")
	c.Set("c", "4")
	want := []kafka.Header{{Key: "a", Value: []byte("new")}, {Key: "b", Value: []byte("2")}, {Key: "c", Value: []byte("4")}}
	if len(hs) != len(want) {
		t.Fatalf("headers after Set = %v, want %v", hs, want)
	}
	for i := range want {
		if hs[i].Key != want[i].Key || string(hs[i].Value) != string(want[i].Value) {
			t.Errorf("header %d = %s=%s, want %s=%s", i, hs[i].Key, hs[i].Value, want[i].Key, want[i].Value)
		}
	}

	var nilCarrier telemetry.KafkaHeaders
	nilCarrier.Set("x", "y") // must not panic
	if got := nilCarrier.Get("x"); got != "" || nilCarrier.Keys() != nil {
		t.Errorf("nil carrier: Get = %q, Keys = %v; want empty", got, nilCarrier.Keys())
	}
}

func TestRegisterGauges(t *testing.T) {
	tt := telemetrytest.New()
	t.Cleanup(func() { _ = tt.Shutdown(context.Background()) })

	var mu sync.Mutex
	depth := int64(7)
	err := telemetry.RegisterGauges(tt.MeterProvider, "github.com/fraudscore/scorer/alerts", map[string]func() int64{
		"scorer.outbox.depth":  func() int64 { mu.Lock(); defer mu.Unlock(); return depth },
		"scorer.breaker.state": func() int64 { return 2 },
		"scorer.consumer.lag":  func() int64 { return 0 },
	}, map[string]string{"scorer.outbox.depth": "Alerts waiting in the outbox."})
	if err != nil {
		t.Fatalf("RegisterGauges: %v", err)
	}

	if got := tt.Sum(t, "scorer.outbox.depth"); got != 7 {
		t.Errorf("scorer.outbox.depth = %v, want 7", got)
	}
	if got := tt.Sum(t, "scorer.breaker.state"); got != 2 {
		t.Errorf("scorer.breaker.state = %v, want 2", got)
	}
	mu.Lock()
	depth = 3
	mu.Unlock()
	if got := tt.Sum(t, "scorer.outbox.depth"); got != 3 {
		t.Errorf("scorer.outbox.depth after change = %v, want 3 (read at collection time)", got)
	}

	body := scrape(t, tt.MetricsHandler)
	for _, want := range []string{"# TYPE scorer_outbox_depth gauge", "# HELP scorer_outbox_depth Alerts waiting in the outbox.", "scorer_consumer_lag{"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics does not contain %q; got:\n%s", want, body)
		}
	}

	if err := telemetry.RegisterGauges(tt.MeterProvider, "x", map[string]func() int64{"bad": nil}, nil); err == nil {
		t.Error("RegisterGauges with a nil callback: got nil error")
	}
}
