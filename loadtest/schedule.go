package loadtest

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Stage is a period of constant offered rate (requests per second).
// A stage with rate 0 is a pause.
type Stage struct {
	Duration time.Duration
	Rate     float64
}

// Schedule is the open-loop plan of a run: the stages in order. Request j of
// stage k is due at the stage's start + j/rate, whatever happened to earlier
// requests.
type Schedule []Stage

// ParseStages parses "10s:1000,30s:5000" (duration:rate per stage).
func ParseStages(s string) (Schedule, error) { return ParseStagesOf(s, 0) }

// ParseStagesOf parses stages as ParseStages does, and also reads a rate
// written as a multiple of capacity (requests per second): with capacity
// 6000, "8s:0.5x,8s:2x,8s:0.5x" is 8s at 3000/s, 8s at 12000/s, 8s at
// 3000/s. A multiple without a capacity (capacity <= 0) is an error.
func ParseStagesOf(s string, capacity float64) (Schedule, error) {
	var sched Schedule
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d, r, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("stage %q: want duration:rate, e.g. 10s:1000", part)
		}
		dur, err := time.ParseDuration(d)
		if err != nil || dur <= 0 {
			return nil, fmt.Errorf("stage %q: duration must be positive, e.g. 10s", part)
		}
		r = strings.TrimSpace(r)
		mult, relative := strings.CutSuffix(strings.ToLower(r), "x")
		if relative {
			r = mult
		}
		rate, err := strconv.ParseFloat(r, 64)
		if err != nil || rate < 0 || math.IsInf(rate, 0) || math.IsNaN(rate) {
			return nil, fmt.Errorf("stage %q: rate must be a number of requests per second >= 0, or a multiple of --capacity such as 0.5x", part)
		}
		if relative {
			if capacity <= 0 || math.IsInf(capacity, 0) || math.IsNaN(capacity) {
				return nil, fmt.Errorf("stage %q: a rate of %sx is a multiple of the capacity: give --capacity (requests per second)", part, mult)
			}
			rate *= capacity
		}
		sched = append(sched, Stage{Duration: dur, Rate: rate})
	}
	if len(sched) == 0 {
		return nil, fmt.Errorf("stages %q: no stage", s)
	}
	return sched, nil
}

// String formats the schedule as ParseStages reads it.
func (s Schedule) String() string {
	parts := make([]string, len(s))
	for i, st := range s {
		parts[i] = st.Duration.String() + ":" + strconv.FormatFloat(st.Rate, 'f', -1, 64)
	}
	return strings.Join(parts, ",")
}

// count is the number of requests of one stage: every j >= 0 with j/rate < d.
func (st Stage) count() int64 {
	if st.Rate <= 0 {
		return 0
	}
	return int64(math.Ceil(st.Duration.Seconds()*st.Rate - 1e-9))
}

// Total is the number of requests the schedule offers.
func (s Schedule) Total() int64 {
	var n int64
	for _, st := range s {
		n += st.count()
	}
	return n
}

// Duration is the planned length of the run.
func (s Schedule) Duration() time.Duration {
	var d time.Duration
	for _, st := range s {
		d += st.Duration
	}
	return d
}

// Rate is the mean offered rate over the whole schedule.
func (s Schedule) Rate() float64 {
	if d := s.Duration().Seconds(); d > 0 {
		return float64(s.Total()) / d
	}
	return 0
}

// Due returns when request i (0-based) is due, as an offset from the start;
// false when the schedule has fewer requests.
func (s Schedule) Due(i int64) (time.Duration, bool) {
	d, _, ok := s.due(i)
	return d, ok
}

// due is Due, and the index of the stage request i belongs to.
func (s Schedule) due(i int64) (time.Duration, int, bool) {
	if i < 0 {
		return 0, 0, false
	}
	var start time.Duration
	for k, st := range s {
		n := st.count()
		if i < n {
			return start + time.Duration(float64(i)*float64(time.Second)/st.Rate), k, true
		}
		i -= n
		start += st.Duration
	}
	return 0, 0, false
}
