package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadtestCommand(t *testing.T) {
	sem := make(chan struct{}, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sem <- struct{}{}
		time.Sleep(20 * time.Millisecond)
		<-sem
		w.Write([]byte(`{"decision":"approve"}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	args := []string{"--target", srv.URL, "--rate", "150", "--duration", "1s", "--max-inflight", "4",
		"--slack", "300ms", "--progress=false", "--out", filepath.Join(dir, "r.json"), "--html", filepath.Join(dir, "r.html")}

	t.Run("a broken --max-p99 exits 99 and still writes the reports", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		err := loadtestCommand(context.Background(), append(args, "--max-p99", "1ms"), &stdout, &stderr)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 99 || exitCode(err) != 99 {
			t.Fatalf("err = %v, want an exitError with code 99", err)
		}
		if !strings.Contains(stdout.String(), "latency") {
			t.Errorf("stdout lacks the summary:\n%s", stdout.String())
		}
		b, err := os.ReadFile(filepath.Join(dir, "r.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Requests int64            `json:"requests"`
			Dropped  int64            `json:"dropped"`
			Status   map[string]int64 `json:"status"`
		}
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Requests != 150 || rep.Status["200"]+rep.Dropped != 150 {
			t.Errorf("report: %+v, want 150 requests = 200s + dropped", rep)
		}
		if _, err := os.Stat(filepath.Join(dir, "r.html")); err != nil {
			t.Error(err)
		}
	})
	t.Run("generous thresholds pass", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if err := loadtestCommand(context.Background(), append(args, "--max-p99", "1m", "--max-error-rate", "0"), &stdout, &stderr); err != nil {
			t.Fatalf("err = %v\n%s", err, stdout.String())
		}
	})
	t.Run("env fallback and bad flags", func(t *testing.T) {
		t.Setenv("SCORER_STAGES", "nonsense")
		var stdout, stderr bytes.Buffer
		if err := loadtestCommand(context.Background(), []string{"--target", srv.URL}, &stdout, &stderr); err == nil || exitCode(err) == 99 {
			t.Errorf("err = %v, want a usage error from SCORER_STAGES", err)
		}
	})
}

func TestLoadtestCommandPhases(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"decision":"approve"}`))
	}))
	defer srv.Close()
	base := []string{"--target", srv.URL, "--progress=false"}

	t.Run("bad combinations are usage errors that say why", func(t *testing.T) {
		tests := []struct {
			name string
			args []string
			want string
		}{
			{"a multiple of the capacity without --capacity", []string{"--phases", "1s:0.5x"}, "--capacity"},
			{"--stages and --phases together", []string{"--stages", "1s:10", "--phases", "1s:10"}, "give one"},
			{"a negative capacity", []string{"--capacity", "-5", "--stages", "1s:1x"}, "--capacity"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				err := loadtestCommand(context.Background(), append(base, tt.args...), &stdout, &stderr)
				if err == nil || exitCode(err) == 99 || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want a usage error mentioning %q", err, tt.want)
				}
			})
		}
	})

	t.Run("phases relative to --capacity are reported stage by stage", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "r.json")
		var stdout, stderr bytes.Buffer
		args := append(base, "--phases", "300ms:0.5x,300ms:1x,300ms:0.5x", "--capacity", "100", "--out", out)
		if err := loadtestCommand(context.Background(), args, &stdout, &stderr); err != nil {
			t.Fatalf("err = %v\n%s", err, stderr.String())
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Requests int64 `json:"requests"`
			Stages   []struct {
				Rate     float64 `json:"rate"`
				RateX    float64 `json:"rate_x"`
				Requests int64   `json:"requests"`
			} `json:"stages"`
		}
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		want := []struct {
			rate, x float64
			n       int64
		}{{50, 0.5, 15}, {100, 1, 30}, {50, 0.5, 15}}
		if len(rep.Stages) != len(want) {
			t.Fatalf("stages %+v, want %d", rep.Stages, len(want))
		}
		for i, w := range want {
			if s := rep.Stages[i]; s.Rate != w.rate || s.RateX != w.x || s.Requests != w.n {
				t.Errorf("stage %d = %+v, want rate %v (%vx), %d requests", i+1, s, w.rate, w.x, w.n)
			}
		}
		if !strings.Contains(stdout.String(), "stages (by due time") {
			t.Errorf("stdout lacks the stage table:\n%s", stdout.String())
		}
	})
}

func TestLoadtestCommandFindCapacity(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"decision":"approve"}`))
	}))
	defer ok.Close()
	shedding := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"title":"overloaded","status":503}`))
	}))
	defer shedding.Close()
	// Short steps and settles keep the search to a fraction of a second.
	search := []string{"--find-capacity", "--progress=false", "--step-duration", "200ms", "--settle", "10ms",
		"--start-rate", "100", "--max-rate", "200"}

	t.Run("flags that do not fit a search are usage errors", func(t *testing.T) {
		tests := []struct {
			name string
			args []string
			want string
		}{
			{"no latency budget", []string{}, "--max-p99"},
			{"kafka mode", []string{"--max-p99", "10ms", "--mode", "kafka"}, "HTTP"},
			{"a schedule of its own", []string{"--max-p99", "10ms", "--stages", "1s:10"}, "own rates"},
			{"a capacity given", []string{"--max-p99", "10ms", "--capacity", "100"}, "own rates"},
			{"a start rate above the max rate", []string{"--max-p99", "10ms", "--start-rate", "300"}, "--start-rate"},
			{"a negative settle", []string{"--max-p99", "10ms", "--settle", "-1s"}, "--settle"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				args := append(append([]string{"--target", ok.URL}, search...), tt.args...)
				var stdout, stderr bytes.Buffer
				err := loadtestCommand(context.Background(), args, &stdout, &stderr)
				if err == nil || exitCode(err) == 99 || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want a usage error mentioning %q", err, tt.want)
				}
			})
		}
	})

	t.Run("a search prints its curve and answer and writes them into the reports", func(t *testing.T) {
		dir := t.TempDir()
		args := append(append([]string{"--target", ok.URL}, search...), "--max-p99", "1s",
			"--out", filepath.Join(dir, "c.json"), "--html", filepath.Join(dir, "c.html"))
		var stdout, stderr bytes.Buffer
		if err := loadtestCommand(context.Background(), args, &stdout, &stderr); err != nil {
			t.Fatalf("err = %v\n%s", err, stdout.String())
		}
		out := stdout.String()
		for _, want := range []string{"--max-error-rate not given: 0.001", "offered", "goodput", "pass", "capacity ≥ 200/s at p99 ≤ 1.00s"} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
		b, err := os.ReadFile(filepath.Join(dir, "c.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Capacity struct {
				Rate         float64 `json:"rate"`
				MaxP99Ms     float64 `json:"max_p99_ms"`
				MaxErrorRate float64 `json:"max_error_rate"`
				Steps        []struct {
					Offered   float64 `json:"offered"`
					Goodput   float64 `json:"goodput"`
					Pass      bool    `json:"pass"`
					OKLatency struct {
						P99 float64 `json:"p99"`
					} `json:"ok_latency_ms"`
				} `json:"steps"`
			} `json:"capacity"`
		}
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		c := rep.Capacity
		if c.Rate != 200 || c.MaxP99Ms != 1000 || c.MaxErrorRate != 0.001 || len(c.Steps) != 3 {
			t.Fatalf("capacity %+v, want 200/s found in 3 steps (100, 150, 200) at 1000ms, 0.001", c)
		}
		for i, want := range []float64{100, 150, 200} {
			if s := c.Steps[i]; s.Offered != want || !s.Pass || s.Goodput <= 0 {
				t.Errorf("step %d = %+v, want a pass at %v/s", i+1, s, want)
			}
		}
		page, err := os.ReadFile(filepath.Join(dir, "c.html"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(page), "Capacity search") {
			t.Errorf("c.html lacks the capacity search")
		}
	})

	t.Run("a start rate that fails exits 99 and still writes the report", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "c.json")
		args := append(append([]string{"--target", shedding.URL}, search...), "--max-p99", "1s", "--out", path)
		var stdout, stderr bytes.Buffer
		err := loadtestCommand(context.Background(), args, &stdout, &stderr)
		if exitCode(err) != 99 || !strings.Contains(err.Error(), "start rate") {
			t.Fatalf("err = %v, want exit 99 naming the start rate\n%s", err, stdout.String())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Shed     int64 `json:"shed"`
			Capacity struct {
				Rate  float64           `json:"rate"`
				Steps []json.RawMessage `json:"steps"`
			} `json:"capacity"`
		}
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		// The start rate is tried twice (--capacity-retries 1), then fails.
		if rep.Capacity.Rate != 0 || len(rep.Capacity.Steps) != 2 || rep.Shed != 20 {
			t.Errorf("report %+v, want no capacity after two steps of 20 sheds", rep)
		}
	})
}

func TestLoadtestCommandClients(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"decision":"approve"}`))
	}))
	defer srv.Close()
	for _, client := range []string{"fast", "std", ""} {
		t.Run("--client "+client, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.json")
			args := []string{"--target", srv.URL, "--token", "tok", "--rate", "100", "--duration", "200ms",
				"--slack", "300ms", "--progress=false", "--out", out}
			if client != "" {
				args = append(args, "--client", client)
			}
			var stdout, stderr bytes.Buffer
			if err := loadtestCommand(context.Background(), args, &stdout, &stderr); err != nil {
				t.Fatalf("err = %v\n%s", err, stderr.String())
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var rep struct {
				Status map[string]int64 `json:"status"`
			}
			if err := json.Unmarshal(b, &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Status["200"] != 20 || len(rep.Status) != 1 {
				t.Errorf("statuses %v, want 20 answers of 200", rep.Status)
			}
		})
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"an unknown client", []string{"--target", srv.URL, "--client", "curl"}, "--client"},
		{"https needs the std client", []string{"--target", "https://127.0.0.1:1"}, "--client std"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := loadtestCommand(context.Background(), append(tt.args, "--progress=false", "--duration", "100ms"), &stdout, &stderr)
			if err == nil || exitCode(err) == 99 || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a usage error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestLoadtestCommandCPUProfile(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"decision":"approve"}`))
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "cpu.prof")
	args := []string{"--target", srv.URL, "--rate", "100", "--duration", "100ms", "--progress=false", "--cpuprofile", path}
	var stdout, stderr bytes.Buffer
	if err := loadtestCommand(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("err = %v\n%s", err, stderr.String())
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Errorf("profile: %v, %v; want a file written", fi, err)
	}
}
