package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/fraudscore/scorer/fraud"
)

// RedactingTracerProvider wraps tp so that the spans its tracers start
// carry no card number in their start attributes: every string attribute
// holding one (by fraud's rule) has it masked. It is for instrumentation
// that records what a client sent before the service could refuse it,
// such as otelhttp's url.path of GET /cards/4111111111111111/velocity.
func RedactingTracerProvider(tp trace.TracerProvider) trace.TracerProvider {
	return redactingProvider{tp}
}

type redactingProvider struct{ trace.TracerProvider }

func (p redactingProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return redactingTracer{p.TracerProvider.Tracer(name, opts...)}
}

type redactingTracer struct{ trace.Tracer }

func (t redactingTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	cfg := trace.NewSpanStartConfig(opts...)
	var masked []attribute.KeyValue
	for _, a := range cfg.Attributes() {
		if a.Value.Type() != attribute.STRING {
			continue
		}
		if s := a.Value.AsString(); fraud.LooksLikePAN(s) {
			m, _ := fraud.MaskPANs([]byte(s))
			masked = append(masked, attribute.String(string(a.Key), string(m)))
		}
	}
	if len(masked) > 0 {
		// A later value of the same key replaces the earlier one.
		opts = append(opts, trace.WithAttributes(masked...))
	}
	return t.Tracer.Start(ctx, name, opts...)
}
