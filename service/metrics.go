package service

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/fraudscore/scorer/deadletter"
	"github.com/fraudscore/scorer/telemetry"
)

// registerGauges exposes the state that is read rather than counted:
// outbox depth, consumer lag, Badger size, breaker states, cached cards,
// dead letters by class.
func (s *Service) registerGauges() error {
	g := map[string]func() int64{
		"scorer.badger.size": func() int64 {
			lsm, vlog := s.db.Size()
			return lsm + vlog
		},
		"scorer.velocity.cached_cards": func() int64 { return int64(s.store.Stats().CachedCards) },
		"scorer.disk.free":             func() int64 { return int64(s.disk.Status().Free) },
		"scorer.disk.low": func() int64 {
			if s.disk.Status().Low {
				return 1
			}
			return 0
		},
	}
	g["scorer.windows.closed"] = func() int64 { return s.store.Stats().Windows }
	g["scorer.windows.late"] = func() int64 { return s.store.Stats().LateForWindow }
	g["scorer.velocity.dropped_late"] = func() int64 { return s.store.Stats().DroppedLate }
	g["scorer.admission.limit"] = func() int64 { return int64(s.limiter.Stats().Limit) }
	g["scorer.admission.inflight"] = func() int64 { return int64(s.limiter.Stats().InFlight) }
	d := map[string]string{
		"scorer.admission.limit":       "Current concurrency limit of POST /score.",
		"scorer.admission.inflight":    "POST /score requests admitted and not yet answered.",
		"scorer.badger.size":           "Bytes on disk in Badger (LSM and value log).",
		"scorer.windows.closed":        "Tumbling and session windows closed (and queued for velocity.windows) since start.",
		"scorer.windows.late":          "Events that came for a window already closed, left out of it and copied to transactions.late, since start.",
		"scorer.velocity.dropped_late": "Late events beyond retention, scored but not kept in the online state, since start.",
		"scorer.velocity.cached_cards": "Cards whose velocity state is in memory.",
		"scorer.disk.free":             "Bytes free on the file system of the data dir, at the last reading.",
		"scorer.disk.low":              "1 while new work is refused because the data dir's disk is nearly full.",
	}
	if s.remote != nil {
		g["scorer.breaker.model.state"] = func() int64 {
			switch s.remote.BreakerState() {
			case "half-open":
				return 1
			case "open":
				return 2
			}
			return 0
		}
		d["scorer.breaker.model.state"] = "Remote model breaker: 0 closed, 1 half-open, 2 open."
	}
	if s.relay != nil {
		g["scorer.outbox.depth"] = s.outbox.Depth
		d["scorer.outbox.depth"] = "Alerts waiting in the outbox for the broker."
		g["scorer.alerts.published"] = func() int64 { return s.relay.Stats().Published }
		d["scorer.alerts.published"] = "Alerts acknowledged by the broker since start."
		g["scorer.breaker.alerts_publish.state"] = func() int64 { return int64(s.relay.BreakerState()) }
		d["scorer.breaker.alerts_publish.state"] = "Alert publish breaker: 0 closed, 1 half-open, 2 open."
		g["scorer.kafka.consumer.lag"] = func() int64 {
			var lag int64
			for _, l := range s.consumer.PartitionLag() {
				lag += l
			}
			return lag
		}
		d["scorer.kafka.consumer.lag"] = "Records of the transactions topic not yet processed, over the partitions this instance works on (ends read every 5 s)."
		g["scorer.kafka.partitions.stalled"] = func() int64 { return int64(len(s.consumer.Stalls())) }
		d["scorer.kafka.partitions.stalled"] = "Partitions of the transactions topic with records waiting whose processed offset has not moved for --kafka-stall-after."
		g["scorer.dlq.truncated"] = s.dlq.Truncated
		d["scorer.dlq.truncated"] = "Dead letters written as truncated copies because the original was over the broker's size limit."
		for _, c := range deadletter.Classes {
			name := "scorer.dlq." + string(c)
			g[name] = func() int64 { return s.dlq.Counts()[c] }
			d[name] = "Records dead-lettered since start with class " + string(c) + "."
		}
	}
	return telemetry.RegisterGauges(s.tel.MeterProvider, "github.com/fraudscore/scorer/service", g, d)
}

// admissionObserver counts admission decisions.
type admissionObserver struct {
	shed, admitted metric.Int64Counter
}

func newAdmissionObserver(mp metric.MeterProvider) (*admissionObserver, error) {
	m := mp.Meter("github.com/fraudscore/scorer/backpressure")
	o := &admissionObserver{}
	var err error
	if o.shed, err = m.Int64Counter("scorer.shed", metric.WithUnit("{request}"),
		metric.WithDescription("POST /score requests shed with 503, by reason.")); err != nil {
		return nil, err
	}
	if o.admitted, err = m.Int64Counter("scorer.admitted", metric.WithUnit("{request}"),
		metric.WithDescription("POST /score requests admitted.")); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *admissionObserver) Shed(reason string) {
	o.shed.Add(context.Background(), 1, metric.WithAttributes(attribute.String("reason", reason)))
}
func (o *admissionObserver) Admitted() { o.admitted.Add(context.Background(), 1) }
func (o *admissionObserver) Limit(int) {}
