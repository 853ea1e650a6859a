package api_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fraudscore/scorer/api"
)

func TestStoredResultsCanBeRead(t *testing.T) {
	s := start(t, options{})
	tx := validTx("look-1")
	first := s.score(t, tx).result(t)
	r := s.do(t, http.MethodGet, "/transactions/look-1", nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if got := r.result(t); got.Score != first.Score || got.Decision != first.Decision || len(got.Features) != len(first.Features) {
		t.Errorf("stored %+v, want what POST /score answered %+v", got, first)
	}
	if r := s.do(t, http.MethodGet, "/transactions/never-seen", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("an unknown id: %d, want 404", r.status)
	}
	if r := s.do(t, http.MethodGet, "/transactions/4111111111111111", nil, nil); r.status != http.StatusBadRequest || strings.Contains(string(r.body), "4111") {
		t.Errorf("a card number as id: %d %s, want 400 without it", r.status, r.body)
	}
}

func TestAdminCorrectionNeedsAnAdminToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin")
	os.WriteFile(path, []byte("admin-secret\n"), 0o600)
	admin, err := api.LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	body, _ := json.Marshal(validTx("corr-1"))
	off := start(t, options{})
	if r := off.do(t, http.MethodPost, "/admin/velocity/correct?from="+from, body, nil); r.status != http.StatusForbidden {
		t.Errorf("admin off: %d %s, want 403", r.status, r.body)
	}
	on := start(t, options{admin: admin})
	if r := on.do(t, http.MethodPost, "/admin/velocity/correct?from="+from, body, nil); r.status != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", r.status)
	}
	r := on.do(t, http.MethodPost, "/admin/velocity/correct?from="+from, body, map[string]string{"Authorization": "Bearer admin-secret"})
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"added":1`) {
		t.Fatalf("correction: %d %s, want the one transaction added", r.status, r.body)
	}
	if n, _ := on.velocity(t, "card_abc", time.Now()).Get("card_tx_count_1h"); n != 1 {
		t.Errorf("card_tx_count_1h after the correction = %v, want 1", n)
	}
}
