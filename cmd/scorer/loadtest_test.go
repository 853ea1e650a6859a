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
