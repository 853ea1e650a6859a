//go:build unix

package loadtest

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// BenchmarkHTTPClients compares the two HTTP targets against a raw TCP
// server that answers a fixed result and allocates nothing, so that the
// client's cost shows: concurrent senders (as Run's workers), each Send a
// whole request and answer. Beside ns/op (wall time, the server sharing
// the machine), cpu-ns/op is the CPU the process used per request, client
// and server together: the server's share is the same for both clients.
// The allocations are the process's too, the server's none.
//
//	go test -run '^$' -bench HTTPClients -benchmem -cpuprofile cpu.out ./loadtest
func BenchmarkHTTPClients(b *testing.B) {
	srv := newRawServer(b, fixedAnswer(answer200))
	gen := NewGenerator(GeneratorConfig{Seed: 1, Cards: 100000, FraudRate: 0.01, RunID: "bench"})
	events := make([]Event, 1024)
	for i := range events {
		events[i], _ = gen.Next()
	}
	cfg := HTTPConfig{BaseURL: srv.url, MaxInFlight: 64}
	fast, err := NewFastHTTPTarget(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer fast.Close()
	std := NewHTTPTarget(cfg)
	defer std.Close()
	for _, c := range []struct {
		name   string
		target Target
	}{{"std", std}, {"fast", fast}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(8) // 8 senders per core
			cpu0 := cpuTime(b)
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if out := c.target.Send(context.Background(), &events[i%len(events)]); !out.OK {
						b.Errorf("outcome %+v", out)
						return
					}
					i++
				}
			})
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
