// Command tracesum summarises a Go execution trace (go tool trace's input,
// e.g. from /debug/pprof/trace?seconds=30 with `scorer serve --pprof-addr`)
// for finding short stalls that a CPU profile averages away: for each
// bucket of time it prints how busy the process was and the running time of
// the busiest goroutine groups (a group is a goroutine's start function),
// and it lists every running slice longer than -long with the stack it
// ended in. docs/BENCHMARKS.md#overload shows what it found.
//
//	go run . -bucket 250ms -top 7 -long 4ms trace.out
//
// It is a module of its own so that the service does not depend on
// golang.org/x/exp.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

func main() {
	bucket := flag.Duration("bucket", 250*time.Millisecond, "width of a line of the summary")
	top := flag.Int("top", 6, "goroutine groups shown per line")
	long := flag.Duration("long", 20*time.Millisecond, "list running slices longer than this, with their stacks")
	flag.Parse()
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "usage: tracesum [-bucket d] [-top n] [-long d] trace.out")
		os.Exit(2)
	}
	r, err := trace.NewReader(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracesum:", err)
		os.Exit(1)
	}
	group := map[trace.GoID]string{}
	runStart := map[trace.GoID]trace.Time{}
	var t0 trace.Time
	cpu := map[int]map[string]time.Duration{}
	gcIn := map[int]time.Duration{}
	var gcStart trace.Time
	inGC := false
	add := func(g string, a, b trace.Time) {
		for a < b {
			bi := int(time.Duration(a-t0) / *bucket)
			end := t0 + trace.Time((bi+1)*int(*bucket))
			if end > b {
				end = b
			}
			if cpu[bi] == nil {
				cpu[bi] = map[string]time.Duration{}
			}
			cpu[bi][g] += time.Duration(end - a)
			a = end
		}
	}
	name := func(g trace.GoID) string {
		if s, ok := group[g]; ok {
			return s
		}
		return fmt.Sprintf("g?")
	}
	setGroup := func(g trace.GoID, st trace.Stack) {
		if _, ok := group[g]; ok || st == trace.NoStack {
			return
		}
		var frames []trace.StackFrame
		for fr := range st.Frames() {
			frames = append(frames, fr)
		}
		if len(frames) == 0 {
			return
		}
		fn := frames[len(frames)-1].Func
		if fn == "runtime.goexit" && len(frames) > 1 {
			fn = frames[len(frames)-2].Func
		}
		group[g] = fn
	}
	for {
		ev, err := r.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "tracesum:", err)
			os.Exit(1)
		}
		if t0 == 0 {
			t0 = ev.Time()
		}
		if ev.Goroutine() != trace.NoGoroutine {
			setGroup(ev.Goroutine(), ev.Stack())
		}
		switch ev.Kind() {
		case trace.EventRangeBegin:
			if ev.Range().Name == "GC concurrent mark phase" {
				gcStart, inGC = ev.Time(), true
			}
		case trace.EventRangeEnd:
			if ev.Range().Name == "GC concurrent mark phase" && inGC {
				bi := int(time.Duration(gcStart-t0) / *bucket)
				gcIn[bi] += time.Duration(ev.Time() - gcStart)
				inGC = false
			}
		case trace.EventStateTransition:
			st := ev.StateTransition()
			if st.Resource.Kind != trace.ResourceGoroutine {
				continue
			}
			g := st.Resource.Goroutine()
			if st.Stack != trace.NoStack {
				setGroup(g, st.Stack)
			}
			from, to := st.Goroutine()
			if to == trace.GoRunning {
				runStart[g] = ev.Time()
			}
			if from == trace.GoRunning {
				if s, ok := runStart[g]; ok {
					d := time.Duration(ev.Time() - s)
					if d > *long {
						fmt.Printf("LONG %8.3fs %v g%d %s -> %v\n", time.Duration(s-t0).Seconds(), d, g, name(g), to)
						n := 0
						for fr := range st.Stack.Frames() {
							if n < 12 {
								fmt.Printf("      %s\n", fr.Func)
							}
							n++
						}
					}
					add(name(g), s, ev.Time())
					delete(runStart, g)
				}
			}
		}
	}
	var bs []int
	for b := range cpu {
		bs = append(bs, b)
	}
	sort.Ints(bs)
	for _, b := range bs {
		m := cpu[b]
		type kv struct {
			k string
			v time.Duration
		}
		var l []kv
		var tot time.Duration
		for k, v := range m {
			l = append(l, kv{k, v})
			tot += v
		}
		sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
		var parts []string
		for i := 0; i < len(l) && i < *top; i++ {
			n := l[i].k
			if i := strings.LastIndex(n, "/"); i >= 0 {
				n = n[i+1:]
			}
			parts = append(parts, fmt.Sprintf("%s=%d", n, l[i].v.Milliseconds()))
		}
		fmt.Printf("%6.2fs busy=%3d%% gc=%3dms %s\n", (time.Duration(b) * *bucket).Seconds(), int(100*tot / *bucket), gcIn[b].Milliseconds(), strings.Join(parts, " "))
	}
}
