package velocity

import (
	"testing"
	"time"
)

func TestEventNanosSaturatesInsteadOfWrapping(t *testing.T) {
	for _, tt := range []struct {
		give time.Time
		want int64
	}{
		{time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), -1 << 62},
		{time.Date(1677, 9, 21, 0, 12, 43, 0, time.UTC), -1 << 62},
		{time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), 1 << 62},
		{time.Date(2019, 1, 1, 12, 0, 0, 0, time.UTC), time.Date(2019, 1, 1, 12, 0, 0, 0, time.UTC).UnixNano()},
	} {
		if got := eventNanos(tt.give); got != tt.want {
			t.Errorf("eventNanos(%v) = %d, want %d", tt.give, got, tt.want)
		}
	}
	// Room for window arithmetic at both ends.
	if lo := eventNanos(time.Time{}) - int64(30*24*time.Hour); lo > eventNanos(time.Time{}) {
		t.Error("a window before the lowest time overflows")
	}
}
