// Package telemetry sets up OpenTelemetry tracing and metrics for the scorer.
//
// Setup returns providers that the caller passes down to its packages; it sets
// no otel globals. Metrics are always served in the Prometheus text format by
// MetricsHandler; traces and metrics are also pushed over OTLP/HTTP (protobuf)
// when the standard OTEL_EXPORTER_OTLP_* endpoint variables are set.
//
//	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: "scorer", ServiceVersion: version, Env: os.LookupEnv})
//	if err != nil { ... }
//	defer tel.Shutdown(shutdownCtx)
//	router.Handle("/metrics", tel.MetricsHandler)
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Environment variables that switch on OTLP export (OTLP/HTTP with protobuf).
// A signal-specific endpoint is used as is; the generic one gets the signal
// path (/v1/traces, /v1/metrics) appended, as the OTel specification says.
const (
	envEndpoint        = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint  = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envMetricsEndpoint = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
)

// Config configures Setup.
type Config struct {
	ServiceName, ServiceVersion string
	// Env is the environment lookup (os.LookupEnv in production, a map in
	// tests). Nil means os.LookupEnv. It decides whether OTLP export is on and
	// where it goes; other OTEL_* settings (headers, sampler, export
	// intervals, OTEL_RESOURCE_ATTRIBUTES) are read by the SDK from the
	// process environment.
	Env func(string) (string, bool)
}

// Telemetry holds the providers the service passes to its packages. Setup sets
// no otel globals; the caller may choose to (otel.SetTracerProvider, ...).
type Telemetry struct {
	// TracerProvider is always an SDK tracer provider, so spans carry real
	// trace ids (for logs and propagation). Spans are exported by a batch
	// span processor only when an OTLP traces endpoint is configured.
	TracerProvider trace.TracerProvider
	// MeterProvider is an SDK meter provider read by the Prometheus exporter
	// and, when an OTLP metrics endpoint is configured, by a periodic reader
	// pushing over OTLP.
	MeterProvider metric.MeterProvider
	// Propagator is W3C TraceContext plus Baggage.
	Propagator propagation.TextMapPropagator
	// MetricsHandler serves the Prometheus text exposition of a private
	// registry (OTel metrics plus the Go runtime and process collectors).
	MetricsHandler http.Handler
	// Shutdown flushes and stops the exporters. Call it once, with a
	// deadline.
	Shutdown func(context.Context) error
}

// Setup builds the providers described by cfg. It does not contact any
// collector: OTLP exporters connect on first export.
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	lookup := cfg.Env
	if lookup == nil {
		lookup = os.LookupEnv
	}
	tracesURL, err := otlpURL(lookup, envTracesEndpoint, "/v1/traces")
	if err != nil {
		return nil, err
	}
	metricsURL, err := otlpURL(lookup, envMetricsEndpoint, "/v1/metrics")
	if err != nil {
		return nil, err
	}

	res, err := newResource(ctx, cfg)
	if err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("telemetry: register go collector: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("telemetry: register process collector: %w", err)
	}
	promExporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promExporter)}
	if metricsURL != "" {
		exp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(metricsURL))
		if err != nil {
			return nil, fmt.Errorf("telemetry: otlp metric exporter: %w", err)
		}
		mpOpts = append(mpOpts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
	}
	mp := sdkmetric.NewMeterProvider(mpOpts...)

	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if tracesURL != "" {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(tracesURL))
		if err != nil {
			return nil, errors.Join(fmt.Errorf("telemetry: otlp trace exporter: %w", err), mp.Shutdown(ctx))
		}
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)

	return &Telemetry{
		TracerProvider: tp,
		MeterProvider:  mp,
		Propagator:     NewPropagator(),
		MetricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		Shutdown: func(ctx context.Context) error {
			// Traces first: their export is what an operator misses most.
			return errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx))
		},
	}, nil
}

// NewPropagator returns the W3C TraceContext + Baggage propagator.
func NewPropagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// otlpURL returns the full OTLP/HTTP URL for a signal, or "" when neither the
// signal-specific nor the generic endpoint is set.
func otlpURL(lookup func(string) (string, bool), signalVar, signalPath string) (string, error) {
	raw, name := lookupNonEmpty(lookup, signalVar), signalVar
	if raw == "" {
		base := lookupNonEmpty(lookup, envEndpoint)
		if base == "" {
			return "", nil
		}
		raw, name = strings.TrimRight(base, "/")+signalPath, envEndpoint
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("telemetry: %s: %w", name, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("telemetry: %s=%q: want an http:// or https:// URL", name, raw)
	}
	return raw, nil
}

func lookupNonEmpty(lookup func(string) (string, bool), key string) string {
	v, _ := lookup(key)
	return strings.TrimSpace(v)
}

// newResource describes the service. OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES (process environment) override cfg.
func newResource(ctx context.Context, cfg Config) (*resource.Resource, error) {
	var attrs []attribute.KeyValue
	if cfg.ServiceName != "" {
		attrs = append(attrs, attribute.String("service.name", cfg.ServiceName))
	}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", cfg.ServiceVersion))
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attrs...),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	return res, nil
}
