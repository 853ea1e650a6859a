package backpressure

import (
	"context"
	"testing"
	"time"
)

// BenchmarkAcquire measures the admission fast path: a free slot, no queue.
func BenchmarkAcquire(b *testing.B) {
	for _, bb := range []struct {
		name string
		o    Options
	}{
		{"static", Options{Static: true, InitialLimit: 1 << 20}},
		{"adaptive", Options{InitialLimit: 1 << 20, MaxLimit: 1 << 20}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			l := New(bb.o)
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					release, err := l.Acquire(ctx)
					if err != nil {
						b.Error(err)
						return
					}
					release(false)
				}
			})
		})
	}
}

// BenchmarkAcquireShed measures shedding, the hot path under overload.
func BenchmarkAcquireShed(b *testing.B) {
	l := New(Options{Static: true, InitialLimit: 1, MaxWait: -1})
	release, _ := l.Acquire(context.Background())
	defer release(false)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Acquire(context.Background()); err == nil {
				b.Error("admitted past the limit")
				return
			}
		}
	})
}
