package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sys/unix"

	"github.com/fraudscore/scorer/api"
	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/service"
)

// mountTmpfs mounts a tmpfs of sizeMiB for the test, or skips it where
// mounting is not permitted (it needs root with CAP_SYS_ADMIN).
func mountTmpfs(t *testing.T, sizeMiB int) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", sizeMiB), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a %d MiB tmpfs (%v: %s): the full-disk test needs root with CAP_SYS_ADMIN", sizeMiB, err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// fill allocates a file so that about leave bytes stay free under dir, and
// returns its path.
func fill(t *testing.T, dir string, leave int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	size := fi.Size() + freeBytes(t, dir) - leave
	if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		t.Fatalf("fallocate %d bytes: %v", size, err)
	}
	return path
}

func postStatus(t *testing.T, addr string, body []byte) (int, api.Problem) {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/score", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var p api.Problem
	if resp.StatusCode != 200 {
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("%d answer is not problem+json: %s", resp.StatusCode, b)
		}
	}
	return resp.StatusCode, p
}

type readiness struct {
	Status       string            `json:"status"`
	Checks       map[string]string `json:"checks"`
	ModelVersion string            `json:"model_version"`
}

func ready(t *testing.T, addr string) (int, readiness) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r readiness
	json.NewDecoder(resp.Body).Decode(&r)
	return resp.StatusCode, r
}

// TestFullDiskRefusesWorkAndResumes fills a small tmpfs under the data dir
// while the service runs: before Badger could hit the full disk (a SIGBUS
// through its memory map), new work is refused with 503 naming the cause,
// /readyz turns 503, the Kafka consumer waits, and everything resumes by
// itself once space is freed. Nothing answered before is lost, and a start
// on the full disk fails with a clear error instead of a signal.
func TestFullDiskRefusesWorkAndResumes(t *testing.T) {
	dir := mountTmpfs(t, 256)
	const minFree = 96
	cfg := service.Config{DataDir: dir, KafkaBrokers: "embedded", MinFreeDiskMiB: minFree, KafkaStallAfter: 300 * time.Millisecond}
	r := startConfig(t, cfg)
	now := time.Now().Add(-time.Minute)

	var answered [][]byte
	for i := range 20 {
		b := txJSON(fmt.Sprint("before-", i), fmt.Sprint("card_d", i%4), 1000, now, "")
		r.post(t, b)
		answered = append(answered, b)
	}

	filler := fill(t, dir, (minFree<<20)+(512<<10))
	// Score until the guard stops writes: each transaction writes a few
	// hundred bytes to Badger's log, so the half MiB left above the
	// minimum runs out within a few thousand.
	refused := false
	for i := 0; i < 20000 && !refused; i++ {
		st, p := postStatus(t, r.Addr(), txJSON(fmt.Sprint("fill-", i), fmt.Sprint("card_f", i%64), 1000, now, ""))
		switch st {
		case 200:
			answered = append(answered, txJSON(fmt.Sprint("fill-", i), fmt.Sprint("card_f", i%64), 1000, now, ""))
		case 503:
			if p.Type != api.ProblemInsufficientStorage || !strings.Contains(p.Detail, "disk") {
				t.Fatalf("503 problem %+v, want type %s naming the disk", p, api.ProblemInsufficientStorage)
			}
			refused = true
		default:
			t.Fatalf("status %d while the disk fills: %+v", st, p)
		}
	}
	if !refused {
		t.Fatal("20000 transactions on a nearly full disk and none refused")
	}
	if st, rd := ready(t, r.Addr()); st != 503 || !strings.Contains(rd.Checks["disk"], "disk nearly full") {
		t.Errorf("/readyz on a full disk = %d %+v, want 503 naming the disk", st, rd)
	}
	// The Kafka path waits rather than failing records.
	kafkatest.Produce(t, r.broker, "transactions", kafkaMsg("k-while-full", "card_k", now))
	if st, _ := postStatus(t, r.Addr(), txJSON("while-full", "card_x", 1000, now, "")); st != 503 {
		t.Errorf("a new transaction on the full disk got %d, want 503", st)
	}
	// The record is fetched and waits at the gate: its partition shows as
	// stalled, and it is not processed until there is room.
	waitMetric(t, r.Addr(), "scorer_kafka_partitions_stalled", func(v float64) bool { return v >= 1 })
	if v := metricValue(t, r.Addr(), "scorer_disk_low"); v != 1 {
		t.Errorf("scorer_disk_low = %v on a full disk, want 1", v)
	}
	if _, ok, _ := r.Store().Lookup("k-while-full"); ok {
		t.Error("a Kafka record was processed while the disk was full")
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if st, _ := ready(t, r.Addr()); st == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready again 15s after space was freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if res, _ := r.post(t, txJSON("after", "card_x", 1000, now, "")); res.Duplicate {
		t.Error("a new transaction after the disk recovered was a duplicate")
	}
	r.waitProcessed(t, "k-while-full")
	waitMetric(t, r.Addr(), "scorer_kafka_partitions_stalled", func(v float64) bool { return v == 0 })
	if v := metricValue(t, r.Addr(), "scorer_disk_low"); v != 0 {
		t.Errorf("scorer_disk_low = %v once space was freed, want 0", v)
	}
	for _, b := range answered {
		if res, _ := r.post(t, b); !res.Duplicate {
			t.Fatalf("%s was answered before the disk filled but is not stored", b)
		}
	}
	r.stop()

	// A start on a full disk says why and stops; nothing is opened.
	filler = fill(t, dir, 8<<20)
	_, err := service.New(context.Background(), service.Config{DataDir: dir, KafkaBrokers: "none", HTTPAddr: "127.0.0.1:0",
		MinFreeDiskMiB: minFree, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "disk nearly full") || !strings.Contains(err.Error(), "--min-free-disk-mib") {
		t.Fatalf("New on a full disk = %v, want an error naming the disk and the flag", err)
	}
	os.Remove(filler)

	// Nothing answered was lost.
	r = startConfig(t, cfg)
	for _, b := range answered {
		if res, _ := r.post(t, b); !res.Duplicate {
			t.Fatalf("%s was answered but is not stored after a restart", b)
		}
	}
}

func kafkaMsg(id, card string, at time.Time) kafka.Message {
	return kafka.Message{Key: []byte(card), Value: txJSON(id, card, 1000, at, "")}
}

// metricValue returns the value of an unlabelled gauge from /metrics, or
// NaN when it is absent.
func metricValue(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && (f[0] == name || strings.HasPrefix(f[0], name+"{")) {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	return math.NaN()
}

// waitMetric polls /metrics until the gauge satisfies ok, for at most 15 s.
func waitMetric(t *testing.T, addr, name string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		v := metricValue(t, addr, name)
		if ok(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after 15s", name, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
