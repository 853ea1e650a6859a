package loadtest

import (
	"testing"
	"time"
)

// at is an instant ms milliseconds after t0.
func at(t0 time.Time, ms float64) time.Time {
	return t0.Add(time.Duration(ms * float64(time.Millisecond)))
}

func TestRecorderAdmittedLatency(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	ok := Outcome{Status: "200", OK: true}
	shed := Outcome{Status: "503", Err: "status 503: overloaded"}
	bad := Outcome{Status: "400", Err: "status 400: bad"}
	// answer records an answer to a request due at dueMs that took latMs.
	type answer struct {
		dueMs, latMs float64
		out          Outcome
	}
	tests := []struct {
		name    string
		answers []answer
		// want: admitted (successes only) and all-answers max, and the
		// admitted count.
		wantOKMax, wantAllMax float64
		wantOKCount           int64
	}{
		{
			name: "slow 503s do not raise the admitted percentiles",
			answers: []answer{
				{0, 2, ok}, {10, 3, ok}, {20, 500, shed}, {30, 4, ok}, {40, 800, shed},
			},
			wantOKMax: 4, wantAllMax: 800, wantOKCount: 3,
		},
		{
			name:      "client errors are not admitted answers either",
			answers:   []answer{{0, 5, ok}, {10, 900, bad}},
			wantOKMax: 5, wantAllMax: 900, wantOKCount: 1,
		},
		{
			name:      "without a success the admitted percentiles are zero",
			answers:   []answer{{0, 7, shed}},
			wantOKMax: 0, wantAllMax: 7, wantOKCount: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecorder(t0, Schedule{{time.Second, 1000}})
			for _, a := range tt.answers {
				ev := &Event{Due: at(t0, a.dueMs)}
				done := at(t0, a.dueMs+a.latMs)
				r.record(ev, ev.Due, done, a.out)
			}
			rep := r.report(int64(len(tt.answers)), 1000, 0)
			if rep.OKLatency.Count != tt.wantOKCount || rep.OKLatency.Count != rep.Successes {
				t.Errorf("admitted count %d, successes %d; want both %d", rep.OKLatency.Count, rep.Successes, tt.wantOKCount)
			}
			if !near(rep.OKLatency.Max, tt.wantOKMax) || !near(rep.OKLatency.P99, tt.wantOKMax) {
				t.Errorf("admitted p99 %v max %v, want %v (the slowest success)", rep.OKLatency.P99, rep.OKLatency.Max, tt.wantOKMax)
			}
			if !near(rep.Latency.Max, tt.wantAllMax) {
				t.Errorf("all-answers max %v, want %v", rep.Latency.Max, tt.wantAllMax)
			}
		})
	}
}

func TestRecorderTimelineSeparatesAdmittedAnswers(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	r := newRecorder(t0, Schedule{{3 * time.Second, 10}})
	rec := func(dueMs, latMs float64, out Outcome) {
		ev := &Event{Due: at(t0, dueMs)}
		r.record(ev, ev.Due, at(t0, dueMs+latMs), out)
	}
	// Second 0: two fast successes and a slow shed. Second 1: only sheds.
	// Second 2: one success.
	rec(0, 10, Outcome{Status: "200", OK: true})
	rec(100, 20, Outcome{Status: "200", OK: true})
	rec(200, 700, Outcome{Status: "503"})
	rec(1100, 50, Outcome{Status: "503"})
	rec(2000, 30, Outcome{Status: "200", OK: true})
	rep := r.report(5, 10, 0)
	want := []struct {
		ok, shed     int64
		okP99, okMax float64
		allMax       float64
	}{
		{ok: 2, shed: 1, okP99: 20, okMax: 20, allMax: 700},
		{ok: 0, shed: 1, okP99: 0, okMax: 0, allMax: 50},
		{ok: 1, shed: 0, okP99: 30, okMax: 30, allMax: 30},
	}
	if len(rep.Timeline) != len(want) {
		t.Fatalf("timeline %+v, want %d seconds", rep.Timeline, len(want))
	}
	for i, w := range want {
		s := rep.Timeline[i]
		if s.OK != w.ok || s.Shed != w.shed {
			t.Errorf("second %d: ok %d shed %d, want %d %d", i, s.OK, s.Shed, w.ok, w.shed)
		}
		if !near(s.OKP99Ms, w.okP99) || !near(s.OKMaxMs, w.okMax) || !near(s.MaxMs, w.allMax) {
			t.Errorf("second %d: ok p99 %v ok max %v all max %v, want %v %v %v", i, s.OKP99Ms, s.OKMaxMs, s.MaxMs, w.okP99, w.okMax, w.allMax)
		}
	}
}

// near compares milliseconds read back from a 2-significant-digit
// histogram (the timeline's) or a 3-digit one.
func near(got, want float64) bool {
	if want == 0 {
		return got == 0
	}
	d := got - want
	return d >= -0.01*want && d <= 0.01*want
}
