package loadtest

import (
	"regexp"
	"strconv"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/fraudscore/scorer/fraud"
)

// Histogram bounds: microseconds, 1us .. 60s, 3 significant digits.
const (
	histMin    = 1
	histMax    = 60_000_000
	histDigits = 3
)

func newHist() *hdr.Histogram { return hdr.New(histMin, histMax, histDigits) }

func recordDur(h *hdr.Histogram, d time.Duration) {
	us := d.Microseconds()
	us = min(max(us, histMin), histMax)
	_ = h.RecordValue(us) // in range by construction
}

// Outcome is what a Target reports for one send.
type Outcome struct {
	// Status is the HTTP status code as a string ("200", "503"), "acked"
	// for a Kafka produce, or "error" for a transport error.
	Status string
	// OK means success: a 2xx answer, or a Kafka acknowledgement.
	OK bool
	// Decision is the decision of a 200 answer, "" otherwise.
	Decision fraud.Decision
	// Err describes a failure for the error samples; it never holds a
	// request body.
	Err string
}

// recorder accumulates what the workers observe. One mutex is enough: a
// record is a few hundred nanoseconds and the pacer rarely exceeds tens of
// thousands per second.
type recorder struct {
	mu      sync.Mutex
	start   time.Time
	lat     *hdr.Histogram // from the due time, every answer
	okLat   *hdr.Histogram // from the due time, successful answers only
	svc     *hdr.Histogram // from the actual send
	status  map[string]int64
	ok      int64
	errs    int64
	shed    int64
	dropped int64
	sent    int64
	det     Detection
	samples []string
	last    time.Time // completion of the latest response

	// By stage of the schedule (of the due time, not the completion).
	sched  Schedule
	stages []stageAcc

	// The current second of the timeline (by completion time).
	secIdx  int64
	sec     *hdr.Histogram // every answer of the second
	secOK   *hdr.Histogram // its successful answers
	secStat Second
	seconds []Second
}

// Second is one second of the timeline, by completion time (drops by the
// time they were dropped). OK is the goodput of that second (successes per
// second); the P* figures are of every answer, the OK* figures of the
// successful ones only (admitted latency), both from the due time, and 0
// in a second without such answers.
type Second struct {
	T       int64   `json:"t"` // seconds since the start
	Count   int64   `json:"count"`
	OK      int64   `json:"ok"`
	Errors  int64   `json:"errors"`
	Shed    int64   `json:"shed"`
	Dropped int64   `json:"dropped"`
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
	OKP99Ms float64 `json:"ok_p99_ms"`
	OKMaxMs float64 `json:"ok_max_ms"`
}

// stageAcc accumulates the requests due in one stage of the schedule.
type stageAcc struct {
	sent, ok, shed, errs, dropped int64
	lat, okLat                    *hdr.Histogram // allocated on the first answer
}

func newRecorder(start time.Time, sched Schedule) *recorder {
	return &recorder{start: start, lat: newHist(), okLat: newHist(), svc: newHist(),
		sec: hdr.New(histMin, histMax, 2), secOK: hdr.New(histMin, histMax, 2),
		status: map[string]int64{}, last: start,
		sched: sched, stages: make([]stageAcc, len(sched))}
}

// stage returns the accumulator of stage k; nil when out of range (an
// event not paced by Run).
func (r *recorder) stage(k int) *stageAcc {
	if k < 0 || k >= len(r.stages) {
		return nil
	}
	return &r.stages[k]
}

// advance moves the timeline to the second of t, closing the seconds before.
// Called with mu held.
func (r *recorder) advance(t time.Time) {
	idx := int64(t.Sub(r.start) / time.Second)
	for r.secIdx < idx {
		s := r.secStat
		s.T = r.secIdx
		if r.sec.TotalCount() > 0 {
			s.P50Ms = usToMs(r.sec.ValueAtQuantile(50))
			s.P99Ms = usToMs(r.sec.ValueAtQuantile(99))
			s.MaxMs = usToMs(r.sec.Max())
		}
		if r.secOK.TotalCount() > 0 {
			s.OKP99Ms = usToMs(r.secOK.ValueAtQuantile(99))
			s.OKMaxMs = usToMs(r.secOK.Max())
		}
		r.seconds = append(r.seconds, s)
		r.sec.Reset()
		r.secOK.Reset()
		r.secStat = Second{}
		r.secIdx++
	}
}

// drop counts a request of stage k that was never sent.
func (r *recorder) drop(now time.Time, k int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advance(now)
	r.dropped++
	r.secStat.Dropped++
	if st := r.stage(k); st != nil {
		st.dropped++
	}
}

// panLike finds digit runs that could be card numbers, so that error samples
// (which may quote a server's answer) never carry one.
var panLike = regexp.MustCompile(`[0-9][0-9 -]{11,}[0-9]`)

func (r *recorder) record(ev *Event, sent, done time.Time, out Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advance(done)
	if done.After(r.last) {
		r.last = done
	}
	r.sent++
	r.secStat.Count++
	lat := done.Sub(ev.Due)
	recordDur(r.lat, lat)
	recordDur(r.svc, done.Sub(sent))
	recordDur(r.sec, lat)
	r.status[out.Status]++
	st := r.stage(ev.stage)
	if st == nil {
		st = &stageAcc{} // counted in the totals only
	}
	if st.lat == nil {
		st.lat, st.okLat = newHist(), newHist()
	}
	st.sent++
	recordDur(st.lat, lat)
	switch {
	case out.OK:
		r.ok++
		r.secStat.OK++
		recordDur(r.okLat, lat)
		recordDur(r.secOK, lat)
		st.ok++
		recordDur(st.okLat, lat)
	case out.Status == "503":
		r.shed++
		r.secStat.Shed++
		st.shed++
	default:
		r.errs++
		r.secStat.Errors++
		st.errs++
		if len(r.samples) < 5 {
			msg := out.Err
			if msg == "" {
				msg = "status " + out.Status
			}
			r.samples = append(r.samples, panLike.ReplaceAllString(msg, "[digits]"))
		}
	}
	if out.Status == "200" && out.Decision != "" {
		r.det.add(ev.Fraud, out.Decision.Alerting())
	}
}

func usToMs(us int64) float64 { return float64(us) / 1000 }

// progress is the live line: cumulative counts and the p99 so far.
func (r *recorder) progress(now time.Time, inflight int64, lastSent *int64) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	rate := r.sent - *lastSent
	*lastSent = r.sent
	return "[" + strconv.FormatInt(int64(now.Sub(r.start).Round(time.Second)/time.Second), 10) + "s] " +
		"rate " + strconv.FormatInt(rate, 10) + "/s  in-flight " + strconv.FormatInt(inflight, 10) +
		"  p99 " + fmtMs(usToMs(r.lat.ValueAtQuantile(99))) +
		"  ok " + strconv.FormatInt(r.ok, 10) + "  shed " + strconv.FormatInt(r.shed, 10) +
		"  errors " + strconv.FormatInt(r.errs, 10) + "  dropped " + strconv.FormatInt(r.dropped, 10)
}

// Detection counts how the service's decisions match the labels: a
// positive prediction is a review or decline. Only 200 answers count (HTTP);
// in Kafka mode a positive is an alert seen on the alerts topic.
type Detection struct {
	TP        int64   `json:"tp"`
	FP        int64   `json:"fp"`
	FN        int64   `json:"fn"`
	TN        int64   `json:"tn"`
	Precision float64 `json:"precision"` // 0 when nothing was predicted positive
	Recall    float64 `json:"recall"`    // 0 when nothing labelled fraud was scored
}

func (d *Detection) add(fraud, predicted bool) {
	switch {
	case fraud && predicted:
		d.TP++
	case !fraud && predicted:
		d.FP++
	case fraud:
		d.FN++
	default:
		d.TN++
	}
}

func (d *Detection) finish() {
	d.Precision, d.Recall = 0, 0
	if d.TP+d.FP > 0 {
		d.Precision = float64(d.TP) / float64(d.TP+d.FP)
	}
	if d.TP+d.FN > 0 {
		d.Recall = float64(d.TP) / float64(d.TP+d.FN)
	}
}
