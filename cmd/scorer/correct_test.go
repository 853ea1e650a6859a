package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// scorerCLI runs the scorer command with args.
func scorerCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = run(context.Background(), args, &o, &e)
	return o.String(), e.String(), err
}

func TestBackfillCorrectFlags(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	writeTestFile(t, token, "t\n")
	logFile := filepath.Join(dir, "log.jsonl")
	writeTestFile(t, logFile, `{"transaction_id":"a","card_id":"card_4111111111111111","amount":100,"currency":"USD","event_time":"2019-03-01T00:00:00Z"}`+"\n")
	correct := []string{"backfill", "--input", logFile, "--correct"}
	checkCLIErrors(t, []cliErrorCase{
		{"without an admin token", correct, "--correct needs --admin-token-file"},
		{"with a table", append(correct, "--admin-token-file", token, "--out", "x.csv"), "--out does not go with --correct"},
		{"since and from", append(correct, "--admin-token-file", token, "--since", "1h", "--from", "2019-01-01T00:00:00Z"), "not both"},
		{"a negative span", append(correct, "--admin-token-file", token, "--since", "-1h"), "want a positive duration"},
		{"a bad --from", append(correct, "--admin-token-file", token, "--from", "yesterday"), "--from"},
		{"a target that is no URL", append(correct, "--admin-token-file", token, "--target", "localhost"), "want the service's base URL"},
		{"since without correct", []string{"backfill", "--input", logFile, "--out", filepath.Join(dir, "t.csv"), "--since", "1h"}, "--since goes with --correct"},
		{"nothing in the span", append(correct, "--admin-token-file", token, "--target", "http://127.0.0.1:1"),
			"no transaction of the log has an event_time at or after"},
		{"no service", append(correct, "--admin-token-file", token, "--target", "http://127.0.0.1:1", "--from", "2019-01-01T00:00:00Z"),
			"connection refused"},
	})
}

type cliErrorCase struct {
	name string
	args []string
	want string // in the error
}

// checkCLIErrors runs each case's command, which must fail saying want,
// and show the test card number 4111111111111111 nowhere.
func checkCLIErrors(t *testing.T, cases []cliErrorCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, err := scorerCLI(t, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to say %q", err, c.want)
			}
			if strings.Contains(out+errOut+err.Error(), "4111111111111111") {
				t.Error("a card number reached the output")
			}
		})
	}
}
