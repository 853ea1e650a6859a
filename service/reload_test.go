package service_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/service"
)

// modelFile is a logistic model over the transaction amount alone.
func modelFile(version string, weight float64) string {
	return fmt.Sprintf(`{"version": %q, "intercept": -4, "thresholds": {"review": 0.5, "decline": 0.9},
  "features": [{"name": "amount", "transform": "log1p", "mean": 8, "scale": 1.5, "weight": %g,
    "code": "HIGH_AMOUNT", "message": "the amount is high"}]}`, version, weight)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Written beside and renamed, as a deployment would, so that a reload
	// never reads half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func (r *running) adminReload(t *testing.T, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+r.Addr()+"/admin/reload", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, doc
}

// TestReloadUnderLoad swaps models while clients score without pause: a
// good file takes over with no request failing or degrading, and a bad one
// is refused while the old model keeps answering.
func TestReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.json")
	tokens := filepath.Join(dir, "admin-tokens")
	writeFile(t, model, modelFile("amount-v1", 0.5))
	writeFile(t, tokens, "s3cret-admin-token\n")
	r := startConfig(t, service.Config{DataDir: filepath.Join(dir, "data"), ModelFile: model, AdminTokensFile: tokens})

	var (
		mu       sync.Mutex
		failures []string
		versions = map[string]int{}
		scored   atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second}
	base := time.Now().Add(-time.Hour)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := txJSON(fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("tok_reload%02d", w), 5000, base.Add(time.Duration(i)*time.Millisecond), "")
				resp, err := client.Post("http://"+r.Addr()+"/score", "application/json", bytes.NewReader(body))
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var res fraud.Result
				if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &res) != nil || res.Degraded {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%d %s", resp.StatusCode, b))
					mu.Unlock()
					continue
				}
				mu.Lock()
				versions[res.ModelVersion]++
				mu.Unlock()
				scored.Add(1)
			}
		})
	}
	// waitScored waits until n more scorings have been answered.
	waitScored := func(n int64) {
		t.Helper()
		target := scored.Load() + n
		deadline := time.Now().Add(30 * time.Second)
		for scored.Load() < target {
			if time.Now().After(deadline) {
				t.Fatalf("only %d scorings answered", scored.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	probes := 0
	latest := func() fraud.Result {
		t.Helper()
		probes++
		res, _ := r.post(t, txJSON(fmt.Sprintf("probe-%d", probes), "tok_reloadprobe", 5000, time.Now().Add(-time.Minute), ""))
		return res
	}

	waitScored(200)
	if got := latest().ModelVersion; got != "amount-v1" {
		t.Fatalf("model_version before reload = %q", got)
	}

	// A good file takes over.
	writeFile(t, model, modelFile("amount-v2", 3))
	if code, doc := r.adminReload(t, "s3cret-admin-token"); code != http.StatusOK || doc["model_version"] != "amount-v2" {
		t.Fatalf("good reload: %d %v", code, doc)
	}
	if got := latest().ModelVersion; got != "amount-v2" {
		t.Fatalf("model_version after reload = %q", got)
	}
	if code, rd := ready(t, r.Addr()); code != http.StatusOK || rd.ModelVersion != "amount-v2" {
		t.Fatalf("readyz after reload: %d %+v", code, rd)
	}
	waitScored(200)

	// Bad files are refused, each saying why, and v2 keeps answering.
	for name, bad := range map[string]string{
		"truncated":        modelFile("amount-v3", 1)[:40],
		"unknown feature":  strings.Replace(modelFile("amount-v3", 1), `"amount"`, `"card_tx_count_9y"`, 1),
		"thresholds order": strings.Replace(modelFile("amount-v3", 1), `"review": 0.5, "decline": 0.9`, `"review": 0.9, "decline": 0.5`, 1),
	} {
		writeFile(t, model, bad)
		code, doc := r.adminReload(t, "s3cret-admin-token")
		if code != http.StatusUnprocessableEntity {
			t.Errorf("%s: reload answered %d %v, want 422", name, code, doc)
		}
		if detail, _ := doc["detail"].(string); !strings.Contains(detail, "amount-v2") {
			t.Errorf("%s: detail %q does not name the model still answering", name, detail)
		}
		if got := latest().ModelVersion; got != "amount-v2" {
			t.Fatalf("%s: model_version after a refused reload = %q", name, got)
		}
	}
	waitScored(200)

	// Without the admin token there is no reload.
	if code, _ := r.adminReload(t, "wrong"); code != http.StatusUnauthorized {
		t.Errorf("reload with a wrong token answered %d", code)
	}
	close(stop)
	wg.Wait()

	if len(failures) > 0 {
		t.Errorf("%d of %d scorings failed or degraded across the reloads, first: %s", len(failures), int(scored.Load())+len(failures), failures[0])
	}
	if versions["amount-v1"] == 0 || versions["amount-v2"] == 0 || len(versions) != 2 {
		t.Errorf("versions answered: %v", versions)
	}
}

// TestShadowModelNeverChangesTheAnswer scores with a challenger that
// declines everything: the answers are the active model's, and the
// metrics count the disagreement.
func TestShadowModelNeverChangesTheAnswer(t *testing.T) {
	dir := t.TempDir()
	active, shadow := filepath.Join(dir, "active.json"), filepath.Join(dir, "shadow.json")
	writeFile(t, active, modelFile("amount-v1", 0.5))
	writeFile(t, shadow, strings.Replace(modelFile("declines-all", 0.5), `"intercept": -4`, `"intercept": 40`, 1))
	r := startConfig(t, service.Config{DataDir: filepath.Join(dir, "data"), ModelFile: active, ShadowModelFile: shadow})
	for i := range 5 {
		res, _ := r.post(t, txJSON(fmt.Sprintf("shadow-%d", i), fmt.Sprintf("tok_shadowcard%c", 'a'+i), 1000, time.Now().Add(-time.Minute), ""))
		if res.ModelVersion != "amount-v1" || res.Decision != fraud.Approve {
			t.Fatalf("answer with a shadow model: %+v", res)
		}
	}
	resp, err := http.Get("http://" + r.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), `scorer_shadow_decisions_total{agree="false"`) {
		t.Errorf("/metrics has no shadow disagreement:\n%s", grepLines(string(b), "shadow"))
	}
	if !strings.Contains(string(b), "scorer_shadow_score_shift") {
		t.Errorf("/metrics has no shadow score shift")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
