package telemetrytest_test

import (
	"context"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/fraudscore/scorer/telemetry/telemetrytest"
)

func TestHelpers(t *testing.T) {
	tt := telemetrytest.New()
	t.Cleanup(func() { _ = tt.Shutdown(context.Background()) })
	ctx := t.Context()

	meter := tt.MeterProvider.Meter("test")
	decisions, _ := meter.Int64Counter("scorer.decisions")
	decisions.Add(ctx, 2, metric.WithAttributes(attribute.String("decision", "decline")))
	decisions.Add(ctx, 5, metric.WithAttributes(attribute.String("decision", "approve")))
	inflight, _ := meter.Float64UpDownCounter("scorer.inflight")
	inflight.Add(ctx, 1.5)
	latency, _ := meter.Float64Histogram("scorer.score.duration")
	latency.Record(ctx, 0.1, metric.WithAttributes(attribute.Bool("degraded", true)))
	latency.Record(ctx, 0.2, metric.WithAttributes(attribute.Bool("degraded", false)))
	latency.Record(ctx, 0.3, metric.WithAttributes(attribute.Bool("degraded", false)))

	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"sum over all attributes", tt.Sum(t, "scorer.decisions"), 7},
		{"sum filtered by attribute", tt.Sum(t, "scorer.decisions", attribute.String("decision", "decline")), 2},
		{"filter matching nothing", tt.Sum(t, "scorer.decisions", attribute.String("decision", "review")), 0},
		{"float up-down counter", tt.Sum(t, "scorer.inflight"), 1.5},
		{"unknown metric is zero", tt.Sum(t, "scorer.nothing"), 0},
		{"histogram count", float64(tt.Count(t, "scorer.score.duration")), 3},
		{"histogram count filtered", float64(tt.Count(t, "scorer.score.duration", attribute.Bool("degraded", false))), 2},
		{"bool filter does not match the string", float64(tt.Count(t, "scorer.score.duration", attribute.String("degraded", "false"))), 0},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}

	tracer := tt.TracerProvider.Tracer("test")
	_, a := tracer.Start(ctx, "a")
	_, b := tracer.Start(ctx, "b")
	b.End()
	a.End()
	if got, want := tt.SpanNames(), []string{"b", "a"}; !slices.Equal(got, want) {
		t.Errorf("SpanNames() = %v, want %v", got, want)
	}
}
