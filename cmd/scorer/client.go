package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fraudscore/scorer/api"
	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/retry"
)

// serviceClient calls a running scorer's HTTP API for the tools that talk
// to one (scorer parity, scorer backfill --correct): a base URL, a bearer
// token when the service wants one, and retries of the answers that say
// to come back (503, 429).
type serviceClient struct {
	base  string // scheme://host[:port][/prefix], no trailing slash
	token string
	http  *http.Client
	// attempts is how many times a request is sent when the service
	// answers 503 or 429, or the connection fails.
	attempts int
}

// newServiceClient checks target (an http or https URL) and reads the
// bearer token from tokenFile when one is given.
func newServiceClient(flagName, target, tokenFile string) (*serviceClient, error) {
	u, err := url.Parse(strings.TrimRight(target, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s %q: want the service's base URL, e.g. http://127.0.0.1:8080", flagName, fraud.MaskString(target))
	}
	c := &serviceClient{base: u.String(), http: &http.Client{}, attempts: 5}
	if tokenFile != "" {
		if c.token, err = readTokenFile(tokenFile); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// readTokenFile returns the first token of a file in the shape of the
// service's --auth-tokens-file: one a line, blank lines and # comments
// ignored.
func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.ContainsFunc(line, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return "", fmt.Errorf("%s: the token holds a control character", path)
		}
		return line, nil
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return "", fmt.Errorf("%s: no token in the file", path)
}

// maxAnswerBytes bounds what is read of an answer.
const maxAnswerBytes = 4 << 20

// do sends a request to path (with its query) and returns the status and
// the body of the answer. body, when not nil, makes the request body
// afresh for each attempt. 503 and 429 answers and failed connections are
// tried again, after Retry-After (at most 5 s) or clientBackoff; any other
// answer is returned whatever its status.
func (c *serviceClient) do(ctx context.Context, method, path, contentType string, body func() io.Reader) (int, []byte, error) {
	var lastErr error
	for attempt := 1; ; attempt++ {
		var rd io.Reader
		if body != nil {
			rd = body()
		}
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
		if err != nil {
			return 0, nil, err
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		wait := clientBackoff.Next(attempt)
		resp, err := c.http.Do(req)
		if err == nil {
			b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
			resp.Body.Close()
			retry := resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests
			if !retry && rerr == nil {
				return resp.StatusCode, b, nil
			}
			if rerr != nil {
				lastErr = fmt.Errorf("%s %s: reading the answer: %w", method, c.base+path, rerr)
			} else {
				lastErr = answerError(method, c.base+path, resp.StatusCode, b)
			}
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
				wait = min(time.Duration(s)*time.Second, 5*time.Second)
			}
		} else {
			if ctx.Err() != nil {
				return 0, nil, ctx.Err()
			}
			lastErr = errors.New(fraud.MaskString(err.Error())) // it holds the URL
		}
		if attempt >= c.attempts {
			return 0, nil, fmt.Errorf("%w (after %d attempts)", lastErr, attempt)
		}
		if err := retry.Sleep(ctx, wait); err != nil {
			return 0, nil, err
		}
	}
}

// clientBackoff spaces the attempts of serviceClient.do when the service
// gives no Retry-After.
var clientBackoff = retry.Backoff{Base: 200 * time.Millisecond, Cap: 5 * time.Second}

// getJSON fetches path into v; ok is false on a 404.
func (c *serviceClient) getJSON(ctx context.Context, path string, v any) (ok bool, err error) {
	status, b, err := c.do(ctx, http.MethodGet, path, "", nil)
	switch {
	case err != nil:
		return false, err
	case status == http.StatusNotFound:
		return false, nil
	case status != http.StatusOK:
		return false, answerError(http.MethodGet, c.base+path, status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("GET %s: the answer is not the JSON expected: %w", c.base+path, err)
	}
	return true, nil
}

// answerError says what a service's error answer (problem+json) says,
// without echoing anything else of it.
func answerError(method, u string, status int, body []byte) error {
	msg := fmt.Sprintf("%s %s answered %d %s", method, fraud.MaskString(u), status, http.StatusText(status))
	var p api.Problem
	if json.Unmarshal(body, &p) == nil && p.Detail != "" {
		msg += ": " + fraud.MaskString(p.Detail)
		for _, e := range p.Errors {
			msg += fmt.Sprintf("; %s %s", e.Field, fraud.MaskString(e.Message))
		}
	}
	return errors.New(msg)
}
