package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fraudscore/scorer/features"
)

// backfillLog is a small log: a card-number card id, a repeated
// transaction id, an invalid amount and a blank line.
const backfillLog = `{"transaction_id":"a","card_id":"card_4111111111111111","amount":100,"currency":"USD","event_time":"2024-03-01T00:00:00Z"}
{"transaction_id":"b","card_id":"card_4111111111111111","amount":250,"currency":"USD","event_time":"2024-03-01T00:00:30Z"}
{"transaction_id":"a","card_id":"card_x","amount":5,"currency":"USD","event_time":"2024-03-01T00:00:10Z"}
{"transaction_id":"c","card_id":"card_x","amount":-1,"currency":"USD","event_time":"2024-03-01T00:00:10Z"}

{"transaction_id":"d","card_id":"card_x","amount":7,"currency":"USD","event_time":"2024-03-01T00:00:05Z"}
`

func TestBackfillCommand(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "log.jsonl")
	if err := os.WriteFile(in, []byte(backfillLog), 0o644); err != nil {
		t.Fatal(err)
	}
	labels := filepath.Join(dir, "labels.csv")
	if err := os.WriteFile(labels, []byte("transaction_id,is_fraud\na,1\nb,0\nzz,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, args ...string) (string, error) {
		t.Helper()
		var stderr bytes.Buffer
		err := backfillCommand(context.Background(), args, io.Discard, &stderr)
		return stderr.String(), err
	}

	t.Run("a CSV table in event-time order, with a summary", func(t *testing.T) {
		out := filepath.Join(dir, "t.csv")
		stderr, err := run(t, "--input", in, "--out", out)
		if err != nil {
			t.Fatalf("err = %v\n%s", err, stderr)
		}
		recs := readCSV(t, out)
		var ids []string
		for _, r := range recs[1:] {
			ids = append(ids, r[0])
		}
		if got := strings.Join(ids, " "); got != "a d b" {
			t.Errorf("rows %q, want a d b", got)
		}
		if recs[0][3] != "card_tx_count_1m" || recs[3][6] != "2" {
			t.Errorf("b's card_tx_count_24h = %s, want 2 (a and b share the card)", recs[3][6])
		}
		for _, want := range []string{
			"read 5 records", "1 invalid", "1 duplicate", "3 distinct",
			"2 card numbers in identifiers replaced by tokens",
			"invalid: amount: must be an integer in minor units between 0 and 10^12: 1",
			fmt.Sprintf("wrote 3 rows of %d features", features.Default().Len()),
		} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
		}
		b, _ := os.ReadFile(out)
		if bytes.Contains(b, []byte("4111111111111111")) || strings.Contains(stderr, "4111111111111111") {
			t.Error("a card number reached the output or stderr")
		}
	})
	t.Run("labels make a label column and leave unlabelled rows out", func(t *testing.T) {
		out := filepath.Join(dir, "t.parquet")
		stderr, err := run(t, "--input", in, "--labels", labels, "--out", out)
		if err != nil {
			t.Fatalf("err = %v\n%s", err, stderr)
		}
		if !strings.Contains(stderr, "1 rows without a label left out, 1 labels for no transaction") ||
			!strings.Contains(stderr, "wrote 2 rows") {
			t.Errorf("stderr:\n%s", stderr)
		}
		if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("output: %v, %v; want a 0644 file", st, err)
		}
	})
	t.Run("a features file", func(t *testing.T) {
		defs := filepath.Join(dir, "f.yaml")
		os.WriteFile(defs, []byte("features:\n  - {name: n_1h, entity: card_id, agg: count, window: {type: sliding, size: 1h}}\n"), 0o644)
		out := filepath.Join(dir, "f.csv")
		if stderr, err := run(t, "--input", in, "--features", defs, "--out", out); err != nil {
			t.Fatalf("err = %v\n%s", err, stderr)
		}
		if h := readCSV(t, out)[0]; strings.Join(h, ",") != "transaction_id,card_id,event_time,n_1h" {
			t.Errorf("header %v", h)
		}
	})
	t.Run("too many invalid records fail and write nothing", func(t *testing.T) {
		out := filepath.Join(dir, "none.csv")
		stderr, err := run(t, "--input", in, "--out", out, "--max-invalid", "0")
		if err == nil || !strings.Contains(err.Error(), "too many invalid") {
			t.Errorf("err = %v, want too many invalid records", err)
		}
		if !strings.Contains(stderr, "invalid: amount") {
			t.Errorf("stderr lacks the reasons:\n%s", stderr)
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "none") || strings.HasPrefix(e.Name(), ".none") {
				t.Errorf("%s was left behind", e.Name())
			}
		}
	})
	for _, c := range []struct {
		name string
		args []string
	}{
		{"no output", []string{"--input", in}},
		{"an output of unknown format", []string{"--input", in, "--out", "t.json"}},
		{"no input", []string{"--out", "t.csv"}},
		{"both input and topic", []string{"--input", in, "--topic", "t", "--out", "t.csv"}},
		{"offsets with a file", []string{"--input", in, "--from-offset", "3", "--out", "t.csv"}},
		{"offsets and times", []string{"--topic", "t", "--from-offset", "3", "--to-time", "2024-01-01T00:00:00Z", "--out", "t.csv"}},
		{"a bad time", []string{"--topic", "t", "--from-time", "yesterday", "--out", "t.csv"}},
		{"a missing input file", []string{"--input", filepath.Join(dir, "nope.jsonl"), "--out", "t.csv"}},
	} {
		t.Run("refuses "+c.name, func(t *testing.T) {
			if _, err := run(t, c.args...); err == nil {
				t.Error("err = nil")
			}
		})
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
