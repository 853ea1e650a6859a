package backpressure

import (
	"math"
	"runtime/metrics"
	"sync"
	"time"
)

// SchedLatency reads how long the process's goroutines wait, runnable,
// for a CPU: the Go scheduler's latency (runtime/metrics
// /sched/latencies:seconds), over the interval since the previous read.
// It is the sign that the CPU is saturated, and it is not confounded by
// what makes a request slow without using a CPU (a group commit being
// gathered, a remote model answering): a goroutine that waits on I/O or
// a channel is not runnable.
type SchedLatency struct {
	mu      sync.Mutex
	sample  []metrics.Sample
	prev    []uint64
	buckets []float64
}

const schedLatencyMetric = "/sched/latencies:seconds"

// NewSchedLatency returns a reader whose first Quantile covers the time
// since process start.
func NewSchedLatency() *SchedLatency {
	return &SchedLatency{sample: []metrics.Sample{{Name: schedLatencyMetric}}}
}

// Quantiles returns the qs-quantiles (each 0 < q < 1) of the scheduler
// latencies since the previous call, and how many goroutine wake-ups they
// are over; zeros when there were none. A quantile is the upper bound of
// the histogram bucket it falls in.
func (s *SchedLatency) Quantiles(qs ...float64) ([]time.Duration, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]time.Duration, len(qs))
	metrics.Read(s.sample)
	if s.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return out, 0
	}
	h := s.sample[0].Value.Float64Histogram()
	if len(s.prev) != len(h.Counts) {
		s.prev = make([]uint64, len(h.Counts))
		s.buckets = h.Buckets
	}
	var total uint64
	delta := make([]uint64, len(h.Counts))
	for i, c := range h.Counts {
		delta[i] = c - s.prev[i]
		total += delta[i]
		s.prev[i] = c
	}
	if total == 0 {
		return out, 0
	}
	for j, q := range qs {
		want := uint64(math.Ceil(q * float64(total)))
		var seen uint64
		for i, c := range delta {
			seen += c
			if seen >= want {
				hi := s.buckets[i+1]
				if math.IsInf(hi, 1) {
					hi = s.buckets[i]
				}
				out[j] = time.Duration(hi * float64(time.Second))
				break
			}
		}
	}
	return out, total
}
