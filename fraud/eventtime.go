package fraud

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// MinEventTime is the earliest event_time accepted, whatever the limits: no
// card payment happened before the Unix epoch, and times are stored as Unix
// nanoseconds, which wrap before 1677-09-21 (an event of 1600 became one of
// 2184 and moved stream time forward for every card).
var MinEventTime = time.Unix(0, 0).UTC()

// MaxEventTime is the latest event_time accepted, whatever the limits: it
// keeps event times inside what the velocity store computes with (Unix
// nanoseconds within ±2^62, 1823-2116, so that time minus a window cannot
// overflow) when the server clock is not given or the allowed skew is
// huge.
var MaxEventTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

// The instants that Unix nanoseconds can hold.
var (
	minUnixNano = time.Unix(0, math.MinInt64)
	maxUnixNano = time.Unix(0, math.MaxInt64)
)

// UnixNano returns t as Unix nanoseconds like t.UnixNano, but saturates
// instead of wrapping: an instant before 1677-09-21 gives math.MinInt64 and
// one after 2262-04-11 math.MaxInt64, so that an out-of-range time can never
// land in the middle of the valid range.
func UnixNano(t time.Time) int64 {
	switch {
	case t.Before(minUnixNano):
		return math.MinInt64
	case t.After(maxUnixNano):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// checkEventTime returns why t is not an acceptable event_time under lim,
// or "" when it is.
func checkEventTime(t time.Time, lim Limits) string {
	if t.Before(MinEventTime) {
		return "must not be before " + MinEventTime.Format(time.RFC3339)
	}
	if !lim.Now.IsZero() {
		if t.Sub(lim.Now) > lim.MaxFutureSkew {
			return "is more than " + lim.MaxFutureSkew.String() + " ahead of the server clock"
		}
		// Sub saturates, so an age too large for a Duration still compares.
		if lim.MaxEventAge > 0 && lim.Now.Sub(t) > lim.MaxEventAge {
			return "is more than " + readable(lim.MaxEventAge) + " before the server clock"
		}
	}
	if t.After(MaxEventTime) {
		return "must not be after " + MaxEventTime.Format(time.RFC3339)
	}
	return ""
}

// readable writes d for people: in years or days when it is a whole number
// of them (a year being 365 days), else as time.Duration does, without the
// trailing zero units ("36h" rather than "36h0m0s").
func readable(d time.Duration) string {
	const day = 24 * time.Hour
	plural := func(n int64, unit string) string {
		s := strconv.FormatInt(n, 10) + " " + unit
		if n != 1 {
			s += "s"
		}
		return s
	}
	switch {
	case d >= 365*day && d%(365*day) == 0:
		return plural(int64(d/(365*day)), "year")
	case d >= day && d%day == 0:
		return plural(int64(d/day), "day")
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ParseTime parses s as event_time is parsed: strict RFC 3339 (an offset
// of at most ±23:59, two-digit hours), returned in UTC. It is for times
// given elsewhere than in a transaction, such as a query parameter.
func ParseTime(s string) (time.Time, error) {
	q, err := jsontext.AppendQuote(nil, s)
	if err != nil {
		return time.Time{}, errors.New("not valid UTF-8")
	}
	var t time.Time
	if err := json.Unmarshal(q, &t); err != nil {
		return time.Time{}, errors.New("not an RFC 3339 timestamp")
	}
	return t.UTC(), nil
}
