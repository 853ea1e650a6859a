// Package telemetrytest provides in-memory telemetry for tests: spans go to a
// tracetest.SpanRecorder and metrics are read through an sdk/metric
// ManualReader, so tests can assert on what a package recorded.
//
// It is a separate package so that the telemetry package, linked into the
// service binary, does not import "testing".
//
//	tt := telemetrytest.New()
//	t.Cleanup(func() { tt.Shutdown(context.Background()) })
//	h := api.NewHandler(api.Config{Tracer: tt.TracerProvider, Meter: tt.MeterProvider})
//	...
//	if got := tt.Sum(t, "scorer.decisions", attribute.String("decision", "decline")); got != 1 { ... }
package telemetrytest

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/fraudscore/scorer/telemetry"
)

// Telemetry is a telemetry.Telemetry whose spans and metrics stay in memory.
// Its MetricsHandler serves the same metrics in the Prometheus text format
// (on a private registry), as in production.
type Telemetry struct {
	*telemetry.Telemetry
	Spans  *tracetest.SpanRecorder
	Reader *sdkmetric.ManualReader
}

// New returns in-memory telemetry. Call Shutdown when done (t.Cleanup).
func New() *Telemetry {
	spans := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))

	// The Prometheus reader only fails to register on a registry that
	// already has its collector; this one is new.
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutTargetInfo())
	if err != nil {
		panic("telemetrytest: prometheus exporter: " + err.Error())
	}
	mpOpts := []sdkmetric.Option{sdkmetric.WithReader(reader), sdkmetric.WithReader(exp)}
	mp := sdkmetric.NewMeterProvider(mpOpts...)

	return &Telemetry{
		Telemetry: &telemetry.Telemetry{
			TracerProvider: tp,
			MeterProvider:  mp,
			Propagator:     telemetry.NewPropagator(),
			MetricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
			Shutdown: func(ctx context.Context) error {
				return errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx))
			},
		},
		Spans:  spans,
		Reader: reader,
	}
}

// Collect returns the metrics recorded so far (cumulative).
func (tt *Telemetry) Collect(t testing.TB) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tt.Reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("telemetrytest: collect metrics: %v", err)
	}
	return rm
}

// Sum returns the value of the counter, up-down counter or gauge named name
// (the OTel instrument name, e.g. "scorer.decisions"), added up over the data
// points that carry all of attrs (for a gauge: the last observed values). It
// is 0 when nothing was recorded: a synchronous instrument that was never
// used does not appear in a collection. A histogram or other kind under that
// name fails the test.
func (tt *Telemetry) Sum(t testing.TB, name string, attrs ...attribute.KeyValue) float64 {
	t.Helper()
	var total float64
	for _, m := range tt.find(t, name) {
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			total += sumPoints(d.DataPoints, attrs)
		case metricdata.Sum[float64]:
			total += sumPoints(d.DataPoints, attrs)
		case metricdata.Gauge[int64]:
			total += sumPoints(d.DataPoints, attrs)
		case metricdata.Gauge[float64]:
			total += sumPoints(d.DataPoints, attrs)
		default:
			t.Fatalf("telemetrytest: Sum(%q): metric is a %T, not a sum or gauge", name, m.Data)
		}
	}
	return total
}

// Count returns the number of measurements recorded by the histogram named
// name, over the data points that carry all of attrs; 0 when nothing was
// recorded. Any other kind under that name fails the test.
func (tt *Telemetry) Count(t testing.TB, name string, attrs ...attribute.KeyValue) uint64 {
	t.Helper()
	var total uint64
	for _, m := range tt.find(t, name) {
		switch d := m.Data.(type) {
		case metricdata.Histogram[int64]:
			total += countPoints(d.DataPoints, attrs)
		case metricdata.Histogram[float64]:
			total += countPoints(d.DataPoints, attrs)
		default:
			t.Fatalf("telemetrytest: Count(%q): metric is a %T, not a histogram", name, m.Data)
		}
	}
	return total
}

// SpanNames returns the names of the ended spans, in the order they ended.
func (tt *Telemetry) SpanNames() []string {
	ended := tt.Spans.Ended()
	names := make([]string, len(ended))
	for i, s := range ended {
		names[i] = s.Name()
	}
	return names
}

// find returns the metrics named name across all scopes.
func (tt *Telemetry) find(t testing.TB, name string) []metricdata.Metrics {
	t.Helper()
	rm := tt.Collect(t)
	var found []metricdata.Metrics
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				found = append(found, m)
			}
		}
	}
	return found
}

func sumPoints[N int64 | float64](points []metricdata.DataPoint[N], attrs []attribute.KeyValue) float64 {
	var total float64
	for _, p := range points {
		if hasAll(p.Attributes, attrs) {
			total += float64(p.Value)
		}
	}
	return total
}

func countPoints[N int64 | float64](points []metricdata.HistogramDataPoint[N], attrs []attribute.KeyValue) uint64 {
	var total uint64
	for _, p := range points {
		if hasAll(p.Attributes, attrs) {
			total += p.Count
		}
	}
	return total
}

func hasAll(set attribute.Set, attrs []attribute.KeyValue) bool {
	for _, want := range attrs {
		got, ok := set.Value(want.Key)
		if !ok || got.Type() != want.Value.Type() || got.Emit() != want.Value.Emit() {
			return false
		}
	}
	return true
}
