package api

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
)

// Tokens is the set of accepted bearer tokens, reloadable while serving.
// Only SHA-256 digests are kept in memory, and a presented token is
// compared with every digest in constant time, so neither timing nor a heap
// dump gives a token away.
type Tokens struct {
	mu      sync.RWMutex
	digests [][sha256.Size]byte
}

// LoadTokens reads a tokens file: one token per line, blank lines and
// lines starting with # ignored. An empty file is an error: it would lock
// every client out.
func LoadTokens(path string) (*Tokens, error) {
	t := &Tokens{}
	return t, t.Reload(path)
}

// Reload replaces the tokens with those of path. On error the old ones stay.
func (t *Tokens) Reload(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("auth tokens: %w", err)
	}
	defer f.Close()
	var digests [][sha256.Size]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		digests = append(digests, sha256.Sum256([]byte(line)))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("auth tokens: %w", err)
	}
	if len(digests) == 0 {
		return errors.New("auth tokens: the file has no token")
	}
	t.mu.Lock()
	t.digests = digests
	t.mu.Unlock()
	return nil
}

// Len is the number of tokens loaded.
func (t *Tokens) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.digests)
}

// Valid reports whether token is one of the accepted tokens.
func (t *Tokens) Valid(token string) bool {
	d := sha256.Sum256([]byte(token))
	t.mu.RLock()
	defer t.mu.RUnlock()
	ok := 0
	for i := range t.digests {
		ok |= subtle.ConstantTimeCompare(d[:], t.digests[i][:])
	}
	return ok == 1
}

// RequireBearer answers 401 with a problem unless the request carries
// "Authorization: Bearer <token>" with an accepted token.
func RequireBearer(t *Tokens) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := r.Header.Get("Authorization")
			scheme, token, found := strings.Cut(h, " ")
			if !found || !strings.EqualFold(scheme, "Bearer") || token == "" || !t.Valid(strings.TrimSpace(token)) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="scorer"`)
				detail := "a valid bearer token is required"
				if h == "" {
					detail = "the Authorization header is missing"
				}
				writeProblem(w, http.StatusUnauthorized, "Unauthorized", detail, nil)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
