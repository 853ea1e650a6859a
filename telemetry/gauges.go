package telemetry

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/metric"
)

// RegisterGauges registers int64 observable gauges on the meter named scope;
// each is read by its callback at collection time (a Prometheus scrape or an
// OTLP export), e.g. outbox depth, consumer lag, Badger size, breaker state
// (0 closed, 1 half-open, 2 open). descriptions may be nil or partial.
//
// Callbacks run on the collecting goroutine, possibly concurrently with the
// service: they must be safe for concurrent use and fast. They stay
// registered for the life of mp.
func RegisterGauges(mp metric.MeterProvider, scope string, gauges map[string]func() int64, descriptions map[string]string) error {
	meter := mp.Meter(scope)
	var errs []error
	for name, read := range gauges {
		if read == nil {
			errs = append(errs, fmt.Errorf("telemetry: gauge %s: nil callback", name))
			continue
		}
		_, err := meter.Int64ObservableGauge(name,
			metric.WithDescription(descriptions[name]),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				o.Observe(read())
				return nil
			}),
		)
		if err != nil {
			errs = append(errs, fmt.Errorf("telemetry: gauge %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
