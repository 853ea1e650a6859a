package service_test

import (
	"context"
	"fmt"
	"runtime/debug"
	"testing"
	"time"

	"github.com/fraudscore/scorer/loadtest"
	"github.com/fraudscore/scorer/service"
)

// TestAdmissionOnTheRealPipeline drives the whole service (HTTP, admission
// control, Badger and its group commit) past its capacity and back, and
// checks what a payment system relies on: no shedding below capacity, even
// right after an overload (the phase after it lasts 15 s, the issue allows
// 5 s to recover), and a limit that does not ratchet below what the load
// needs. The client runs in the same process, on the same two
// cores, so the figures are ratios within one run; the overload
// benchmark (docs/BENCHMARKS.md) measures them with server and load on
// separate cores. Under -race the service is several times slower and
// these ratios mean nothing: CI runs it without.
func TestAdmissionOnTheRealPipeline(t *testing.T) {
	if raceEnabled {
		t.Skip("timing ratios; run without -race: go test -run Admission ./service")
	}
	// As `scorer serve` runs it (--gc-percent): see cmd/scorer/serve.go.
	defer debug.SetGCPercent(debug.SetGCPercent(200))
	r := startConfig(t, service.Config{DataDir: t.TempDir(), KafkaBrokers: "none"})
	lim := r.Admission()
	target := loadtest.NewHTTPTarget(loadtest.HTTPConfig{BaseURL: "http://" + r.Addr(), MaxInFlight: 512})
	defer target.Close()
	seed := uint64(0)
	run := func(sched loadtest.Schedule) *loadtest.Report {
		t.Helper()
		seed++
		src := loadtest.NewGenerator(loadtest.GeneratorConfig{Seed: seed, Cards: 20000, RunID: fmt.Sprintf("ov%d", seed)})
		rep, err := loadtest.Run(context.Background(), loadtest.Config{Schedule: sched, MaxInFlight: 512, Slack: 5 * time.Millisecond}, src, target)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}

	// Capacity, as the goodput under load well past it.
	probe := run(loadtest.Schedule{{Duration: 3 * time.Second, Rate: 30000}})
	capacity := probe.Throughput
	t.Logf("capacity (goodput offered 30000/s) %.0f/s, limit %d", capacity, lim.Stats().Limit)
	if capacity < 200 {
		t.Fatalf("goodput %.0f/s past capacity: the service collapsed", capacity)
	}

	low := loadtest.Schedule{{Duration: 8 * time.Second, Rate: 0.6 * capacity}}
	shedRate := func(rep *loadtest.Report) float64 {
		return float64(rep.Shed+rep.Errors) / float64(max(rep.Sent, 1))
	}
	before := run(low)
	over := run(loadtest.Schedule{{Duration: 3 * time.Second, Rate: 2 * capacity}})
	shedBefore := lim.Stats().ShedByReason
	after := run(loadtest.Schedule{{Duration: 15 * time.Second, Rate: 0.6 * capacity}})
	st := lim.Stats()
	defer func() {
		if t.Failed() {
			for _, s := range before.Timeline {
				t.Logf("0.6x before: second %d ok %d shed %d errors %d dropped %d p99 %.1fms", s.T, s.OK, s.Shed, s.Errors, s.Dropped, s.P99Ms)
			}
			for _, s := range after.Timeline {
				t.Logf("0.6x after: second %d ok %d shed %d errors %d dropped %d p99 %.1fms", s.T, s.OK, s.Shed, s.Errors, s.Dropped, s.P99Ms)
			}
			t.Logf("sheds by reason: before the 0.6x after %v, at its end %v", shedBefore, st.ShedByReason)
		}
	}()
	t.Logf("0.6x: shed %.3f%%; 2x: goodput %.0f/s shed %.1f%%; 0.6x after: shed %.3f%%; limit %d, service time %v",
		100*shedRate(before), over.Throughput, 100*shedRate(over), 100*shedRate(after), st.Limit, st.LatencyEstimate)

	// The bound, at most 0.1% shed, and again 5 s after the
	// overload (seconds 5 to 14 of the phase after it; the first carry the
	// overload's backlog), at 0.6x rather than the 0.8x: with the
	// client in the process, on the same two cores, 0.8x left the client
	// itself starved for most seconds of some runs (3 of 10 on time), so
	// that nothing could be measured; overload.sh measures 0.8x with the
	// load on its own core. Requests the client could not send in time
	// (Dropped) are the shared cores starving the load tool, not the
	// service shedding: they are left out, as in shedRate.
	const bound = 0.001
	//
	// A second in which the client itself could not send 1% of its
	// requests on time is left out: the whole process stalled (the client
	// shares it, and the cores, with the service), so that second measures
	// the machine, not admission. A ratchet sheds with the client on time,
	// in every second. The phases are long enough (8 s, and 10 s checked
	// after the overload) that at least five seconds must count.
	shedIn := func(rep *loadtest.Report, from, to int64) (shed, count int64, seconds int) {
		for _, s := range rep.Timeline {
			if s.T >= from && s.T < to && s.Dropped*100 <= s.Count+s.Dropped {
				shed, count, seconds = shed+s.Shed+s.Errors, count+s.Count, seconds+1
			}
		}
		return shed, count, seconds
	}
	if shed, n, of := shedIn(before, 0, 8); of < 5 || float64(shed) > bound*float64(n) {
		t.Errorf("at 0.6x capacity %d of %d requests shed over %d s with the client on time, want at most %.1f%% over at least 5 s", shed, n, of, 100*bound)
	}
	if shed, n, of := shedIn(after, 5, 15); of < 5 || float64(shed) > bound*float64(n) {
		t.Errorf("at 0.6x capacity 5 s after 2x, %d of %d requests shed over %d s with the client on time, want at most %.1f%% over at least 5 s", shed, n, of, 100*bound)
	}
	// Little's law: the load at 0.6x needs that rate times the service
	// time in flight; a limit well below it would shed. The estimate is one
	// 100 ms window's mean, which a stall of the shared cores can double
	// (184 against 332 in one run that shed nothing): half of it is the
	// bound. The ratchet this guards against went down to 4.
	if need := 0.6 * capacity * st.LatencyEstimate.Seconds(); float64(st.Limit) < need/2 {
		t.Errorf("limit %d after the overload, below half the %.1f in flight that 0.6x needs", st.Limit, need)
	}
	if over.Throughput < 0.5*capacity {
		t.Errorf("goodput at 2x %.0f/s, under half the capacity %.0f/s", over.Throughput, capacity)
	}
}
