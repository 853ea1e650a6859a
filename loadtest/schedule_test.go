package loadtest

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseStages(t *testing.T) {
	tests := []struct {
		give    string
		want    Schedule
		wantErr bool
	}{
		{give: "10s:1000,30s:5000", want: Schedule{{10 * time.Second, 1000}, {30 * time.Second, 5000}}},
		{give: " 1m:2.5 ", want: Schedule{{time.Minute, 2.5}}},
		{give: "5s:0,5s:10", want: Schedule{{5 * time.Second, 0}, {5 * time.Second, 10}}},
		{give: "", wantErr: true},
		{give: "10s", wantErr: true},
		{give: "10:100", wantErr: true},
		{give: "-1s:100", wantErr: true},
		{give: "1s:-5", wantErr: true},
		{give: "1s:fast", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := ParseStages(tt.give)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseStages(%q) = %v, want an error", tt.give, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
			if back, _ := ParseStages(got.String()); len(back) != len(got) {
				t.Errorf("String() = %q does not parse back", got.String())
			}
		})
	}
}

func TestParseStagesRelativeToCapacity(t *testing.T) {
	tests := []struct {
		name     string
		give     string
		capacity float64
		want     Schedule
		wantErr  string // a substring of the error
	}{
		{name: "multiples of the capacity become requests per second", give: "8s:0.5x,8s:2x,8s:0.5x", capacity: 6000,
			want: Schedule{{8 * time.Second, 3000}, {8 * time.Second, 12000}, {8 * time.Second, 3000}}},
		{name: "plain rates keep working beside multiples", give: "1s:100,2s:1.5X", capacity: 1000,
			want: Schedule{{time.Second, 100}, {2 * time.Second, 1500}}},
		{name: "plain rates need no capacity", give: "1s:100", want: Schedule{{time.Second, 100}}},
		{name: "a zero multiple is a pause", give: "1s:0x", capacity: 10, want: Schedule{{time.Second, 0}}},
		{name: "a multiple without a capacity is an error naming --capacity", give: "8s:0.5x,8s:2x", wantErr: "--capacity"},
		{name: "a negative multiple is an error", give: "1s:-1x", capacity: 10, wantErr: "rate"},
		{name: "a bare x is an error", give: "1s:x", capacity: 10, wantErr: "rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStagesOf(tt.give, tt.capacity)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseStagesOf(%q, %v) = %v, %v; want an error mentioning %q", tt.give, tt.capacity, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			if back, err := ParseStages(got.String()); err != nil || !slices.Equal(back, got) {
				t.Errorf("String() = %q reads back as %v, %v", got.String(), back, err)
			}
		})
	}
}

func TestScheduleDue(t *testing.T) {
	s, err := ParseStages("10s:1000,30s:5000")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Total(), int64(10*1000+30*5000); got != want {
		t.Fatalf("Total = %d, want %d", got, want)
	}
	if got, want := s.Rate(), 160000.0/40; got != want {
		t.Errorf("Rate = %v, want %v", got, want)
	}
	tests := []struct {
		give   int64
		want   time.Duration
		wantOK bool
	}{
		{0, 0, true},
		{1, time.Millisecond, true},
		{9999, 9999 * time.Millisecond, true},
		{10000, 10 * time.Second, true}, // first of the second stage
		{10001, 10*time.Second + 200*time.Microsecond, true},
		{159999, 40*time.Second - 200*time.Microsecond, true},
		{160000, 0, false},
		{-1, 0, false},
	}
	for _, tt := range tests {
		got, ok := s.Due(tt.give)
		if ok != tt.wantOK || (ok && got != tt.want) {
			t.Errorf("Due(%d) = %v, %v; want %v, %v", tt.give, got, ok, tt.want, tt.wantOK)
		}
	}

	t.Run("due times never go backwards", func(t *testing.T) {
		var prev time.Duration
		for i := range s.Total() {
			d, _ := s.Due(i)
			if d < prev || d >= s.Duration() {
				t.Fatalf("Due(%d) = %v after %v (duration %v)", i, d, prev, s.Duration())
			}
			prev = d
		}
	})

	t.Run("a pause stage offers nothing and shifts what follows", func(t *testing.T) {
		s := Schedule{{time.Second, 0}, {time.Second, 4}}
		if got := s.Total(); got != 4 {
			t.Fatalf("Total = %d, want 4", got)
		}
		if got, _ := s.Due(0); got != time.Second {
			t.Errorf("Due(0) = %v, want 1s", got)
		}
	})

	t.Run("fractional counts round up", func(t *testing.T) {
		s := Schedule{{1500 * time.Millisecond, 3}} // due at 0, 1/3, 2/3, 1, 4/3 s
		if got := s.Total(); got != 5 {
			t.Fatalf("Total = %d, want 5", got)
		}
	})
}
