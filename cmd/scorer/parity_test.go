package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fraudscore/scorer/backfill"
	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/service"
)

// sparkovSample is the shared Sparkov sample, read in place beside the
// checkout.
var sparkovSample = filepath.Join("..", "..", "..", "shared", "data", "sparkov", "transactions.jsonl")

// sampleLines returns the sample's lines, or skips the test without it.
func sampleLines(t *testing.T) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(sparkovSample)
	if err != nil {
		t.Skipf("the Sparkov sample is not beside the checkout (%v): skipping", err)
	}
	lines := bytes.Split(bytes.TrimSpace(raw), []byte("\n"))
	if len(lines) != 7184 {
		t.Fatalf("the sample has %d lines, want 7,184", len(lines))
	}
	return lines
}

// scorerUnderTest is a service on a loopback port with a fresh Badger,
// bearer auth on and admin endpoints on.
type scorerUnderTest struct {
	url, tokenFile, adminFile string
}

func startScorer(t *testing.T, lateness time.Duration) scorerUnderTest {
	t.Helper()
	dir := t.TempDir()
	s := scorerUnderTest{tokenFile: filepath.Join(dir, "client.token"), adminFile: filepath.Join(dir, "admin.token")}
	writeTestFile(t, s.tokenFile, "# clients\nclient-token-1\n")
	writeTestFile(t, s.adminFile, "admin-token-1\n")
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := service.New(ctx, service.Config{
		DataDir: filepath.Join(dir, "data"), KafkaBrokers: "none", HTTPAddr: "127.0.0.1:0",
		AllowedLateness: lateness, AuthTokensFile: s.tokenFile, AdminTokensFile: s.adminFile,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the service stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the service did not stop")
		}
	})
	s.url = "http://" + svc.Addr()
	return s
}

// parityReportOf runs scorer parity --json with args.
func parityReportOf(t *testing.T, args ...string) *parityReport {
	t.Helper()
	out, errOut, err := scorerCLI(t, append([]string{"parity", "--json"}, args...)...)
	if err != nil {
		t.Fatalf("scorer parity: %v\n%s", err, errOut)
	}
	var rep parityReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, out)
	}
	return &rep
}

func TestParityInEventTimeOrder(t *testing.T) {
	lines := sampleLines(t)
	logFile, n := sparkovSample, len(lines)
	if testing.Short() {
		n = 1500
		logFile = filepath.Join(t.TempDir(), "head.jsonl")
		writeTestFile(t, logFile, string(bytes.Join(lines[:n], []byte("\n"))))
	}
	s := startScorer(t, 0)
	rep := parityReportOf(t, "--log", logFile, "--target", s.url, "--token-file", s.tokenFile, "--replay")
	if rc := rep.Replay; rc == nil || rc.Scored != n || rc.Late != 0 || rc.Refused != 0 {
		t.Fatalf("replay %+v, want the %d transactions scored, none late or refused", rc, n)
	}
	if rep.Compared != n || rep.NotFound != 0 || rep.Mismatched != 0 {
		t.Errorf("%d compared, %d not found, %d mismatched; want every row compared and equal", rep.Compared, rep.NotFound, rep.Mismatched)
	}
	if len(rep.Features) != features.Default().Len() {
		t.Errorf("%d features reported, want %d", len(rep.Features), features.Default().Len())
	}
	for _, f := range rep.Features {
		if f.Compared != n || f.Mismatches != 0 || f.Absent != 0 {
			t.Errorf("%s: %+v, want %d rows compared and equal", f.Name, f, n)
		}
	}
	// The whole sample ends with 731 cards of June 2020 within retention;
	// its head, with cards of 2019.
	if st := rep.State; st == nil || st.Compared < 300 || st.Differ != 0 {
		t.Errorf("online state %+v, want hundreds of cards compared and equal", st)
	}
}

// shuffledSample is the sample's first rows in the order a service got
// them: each late by up to the allowed lateness, three far beyond it; and
// which of them (none of the three) never reached the service.
func shuffledSample(t *testing.T, rows int, lateness time.Duration) (order [][]byte, withheld map[int]bool) {
	t.Helper()
	rng := rand.New(rand.NewPCG(10, 20))
	lines := sampleLines(t)[:rows]
	type arrival struct {
		line []byte
		at   time.Time
		late bool
	}
	arrivals := make([]arrival, len(lines))
	for i, line := range lines {
		var tx struct {
			EventTime time.Time `json:"event_time"`
		}
		if err := json.Unmarshal(line, &tx); err != nil {
			t.Fatal(err)
		}
		arrivals[i] = arrival{line: line, at: tx.EventTime.Add(time.Duration(rng.Int64N(int64(lateness))))}
	}
	for late := 0; late < 3; {
		if a := &arrivals[rng.IntN(len(arrivals))]; !a.late {
			a.at, a.late = a.at.Add(3*lateness), true
			late++
		}
	}
	slices.SortStableFunc(arrivals, func(a, b arrival) int { return a.at.Compare(b.at) })
	withheld = map[int]bool{}
	for len(withheld) < 12 {
		if i := rng.IntN(len(arrivals)); !arrivals[i].late {
			withheld[i] = true
		}
	}
	for _, a := range arrivals {
		order = append(order, a.line)
	}
	return order, withheld
}

func TestParityShuffledThenCorrected(t *testing.T) {
	// The service allows 10 minutes of lateness, and the shuffle uses all
	// of it: the sample's cards seldom pay twice within the default 2
	// (8 times in the first 1,500 rows; 37 times within 10 minutes), and
	// only those can come out of order.
	const lateness = 10 * time.Minute
	lines, withheld := shuffledSample(t, 1500, lateness)
	dir := t.TempDir()
	// full is the log (every transaction, in the order the service got
	// them); sent is what reached the service.
	var full, sent bytes.Buffer
	for i, line := range lines {
		full.Write(append(line, '\n'))
		if !withheld[i] {
			sent.Write(append(line, '\n'))
		}
	}
	fullLog, sentLog := filepath.Join(dir, "full.jsonl"), filepath.Join(dir, "sent.jsonl")
	writeTestFile(t, fullLog, full.String())
	writeTestFile(t, sentLog, sent.String())
	s := startScorer(t, lateness)
	auth := []string{"--target", s.url, "--token-file", s.tokenFile}

	rep := parityReportOf(t, append([]string{"--log", sentLog, "--replay"}, auth...)...)
	if rc := rep.Replay; rc == nil || rc.Scored != 1500-12 || rc.Late != 3 {
		t.Fatalf("replay %+v, want 1,488 scored, 3 of them late", rc)
	}

	rep = parityReportOf(t, append([]string{"--log", fullLog}, auth...)...)
	t.Logf("shuffled: %d of %d differ: %s; %v", rep.Mismatched, rep.Compared, causesText(rep.Causes), rep.Examples)
	if rep.Compared != 1488 || rep.NotFound != 12 {
		t.Errorf("%d compared, %d not found; want 1,488 and the 12 withheld", rep.Compared, rep.NotFound)
	}
	if rep.Causes[causeUnexplained] != 0 {
		t.Errorf("%d differences without a cause, e.g. %v", rep.Causes[causeUnexplained], rep.Examples["unexplained"])
	}
	if rep.Causes[causeOutOfOrder] == 0 || rep.Causes[causeMissing] == 0 {
		t.Errorf("causes %s: want some out of order (the shuffle) and some missing (the withheld)", causesText(rep.Causes))
	}
	for _, f := range rep.Features {
		if f.Causes[causeUnexplained] != 0 {
			t.Errorf("%s: %d differences without a cause", f.Name, f.Causes[causeUnexplained])
		}
	}
	if st := rep.State; st == nil || st.Compared == 0 || st.Differ == 0 {
		t.Fatalf("online state before the correction %+v: want the cards of the withheld transactions to differ", st)
	}
	stored := rep

	correct := func(adminFile string) (string, string, error) {
		return scorerCLI(t, "backfill", "--input", fullLog, "--correct", "--from", "2019-01-01T00:00:00Z",
			"--target", s.url, "--admin-token-file", adminFile)
	}
	if _, _, err := correct(s.tokenFile); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a client token for the admin endpoint: err = %v, want a 401", err)
	}
	out, errOut, err := correct(s.adminFile)
	if err != nil {
		t.Fatalf("backfill --correct: %v\n%s", err, errOut)
	}
	var ans struct{ Transactions, Invalid, Entities, Added, Removed int }
	if err := json.Unmarshal([]byte(out), &ans); err != nil {
		t.Fatalf("stdout %q: %v", out, err)
	}
	if ans.Transactions != 1500 || ans.Invalid != 0 || ans.Added != 12 || ans.Removed != 0 {
		t.Errorf("the service answered %+v, want 1,500 transactions, the 12 withheld added", ans)
	}
	if !strings.Contains(errOut, "12 events added, 0 removed") {
		t.Errorf("stderr lacks the summary:\n%s", errOut)
	}

	rep = parityReportOf(t, append([]string{"--log", fullLog}, auth...)...)
	if st := rep.State; st == nil || st.Compared != stored.State.Compared || st.Differ != 0 {
		t.Errorf("online state after the correction %+v, want every card compared before equal to the batch", st)
	}
	if rep.Mismatched != stored.Mismatched || rep.NotFound != 12 {
		t.Errorf("stored results: %d differ, %d not found; want them as before (%d, 12): they are history",
			rep.Mismatched, rep.NotFound, stored.Mismatched)
	}
	out, _, err = correct(s.adminFile)
	if err != nil || !strings.Contains(out, `"added":0,"removed":0`) {
		t.Errorf("a second correction answered %s (%v), want nothing changed", out, err)
	}
}

func causesText(c causeCounts) string {
	var parts []string
	for i, n := range c {
		parts = append(parts, causeNames[i]+" "+strconv.Itoa(n))
	}
	return strings.Join(parts, ", ")
}

// TestParityCauses checks the causes put down on a log made for each.
func TestParityCauses(t *testing.T) {
	// In the order the service got them. a2 came before a1, earlier; b1
	// was answered late; c1 never reached the service; d1 is repeated; e
	// has more events than the service keeps; f differs for no reason.
	log := strings.Join([]string{
		tx("a2", "card_a", "00:00:30"), tx("a1", "card_a", "00:00:00"),
		tx("b1", "card_b", "00:00:00"),
		tx("c1", "card_c", "00:00:00"), tx("c2", "card_c", "00:00:10"),
		tx("d1", "card_d", "00:00:00"), tx("d1", "card_d", "00:00:00"), tx("d2", "card_d", "00:00:20"),
		tx("e1", "card_e", "00:00:00"), tx("e2", "card_e", "00:00:01"), tx("e3", "card_e", "00:00:02"),
		tx("f1", "card_f", "00:00:00"), tx("f2", "card_f", "00:00:05"),
	}, "\n")
	path := filepath.Join(t.TempDir(), "log.jsonl")
	writeTestFile(t, path, log)
	src, err := backfill.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	l, _, err := backfill.Read(context.Background(), src, backfill.ReadOptions{MaxInvalid: -1})
	if err != nil {
		t.Fatal(err)
	}
	set := features.Default()
	table, err := backfill.Compute(context.Background(), set, l)
	if err != nil {
		t.Fatal(err)
	}
	// The stored results: the batch's, but where each case made them differ.
	nf := set.Len()
	st := &storedResults{found: make([]bool, table.Len()), late: make([]bool, table.Len()), vals: make([]float64, table.Len()*nf)}
	count := set.Index("card_tx_count_1m")
	rowOf := map[string]int{}
	for r := range table.Len() {
		rowOf[table.Tx(r).ID] = r
		st.found[r] = true
		copy(st.vals[r*nf:], table.Row(r))
	}
	for _, id := range []string{"a2", "b1", "c2", "d2", "e3", "f2"} {
		st.vals[rowOf[id]*nf+count]--
	}
	st.late[rowOf["b1"]] = true
	st.found[rowOf["c1"]] = false
	rep, err := compareParity(set, l, table, st, 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"late": {"b1"}, "out_of_order": {"a2"}, "missing": {"c2"}, "duplicate": {"d2"}, "truncated": {"e3"}, "unexplained": {"f2"},
	}
	for k, ids := range want {
		if got := rep.Examples[k]; !slices.Equal(got, ids) {
			t.Errorf("%s: %v, want %v", k, got, ids)
		}
	}
	if rep.Compared != 11 || rep.NotFound != 1 || rep.Mismatched != 6 || rep.Repeated != 1 {
		t.Errorf("report %+v, want 11 compared, 1 not found, 6 mismatched, 1 repeated id", rep)
	}
	f := rep.Features[count]
	if f.Mismatches != 6 || f.Causes != (causeCounts{1, 1, 1, 1, 1, 1}) || f.Rate != 6.0/11 {
		t.Errorf("card_tx_count_1m: %+v, want one difference of each cause", f)
	}
	var text bytes.Buffer
	if err := writeParityText(&text, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"11 compared, 1 not found", "transactions with a feature that differs: 6 (54.545%)", "out of order: a2"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the text lacks %q:\n%s", want, text.String())
		}
	}
}

func tx(id, card, clock string) string {
	return `{"transaction_id":"` + id + `","card_id":"` + card + `","amount":100,"currency":"USD","event_time":"2024-03-01T` + clock + `Z"}`
}

func TestParityFlags(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	writeTestFile(t, empty, "# none\n\n")
	logFile := filepath.Join(dir, "log.jsonl")
	writeTestFile(t, logFile, `{"transaction_id":"a","card_id":"card_4111111111111111","amount":100,"currency":"USD","event_time":"2019-03-01T00:00:00Z"}`+"\n")
	checkCLIErrors(t, []cliErrorCase{
		{"without a log", []string{"parity"}, "--log is required"},
		{"a target that is no URL", []string{"parity", "--log", logFile, "--target", "127.0.0.1:8080"}, "want the service's base URL"},
		{"no token in the file", []string{"parity", "--log", logFile, "--token-file", empty}, "no token in the file"},
		{"no concurrency", []string{"parity", "--log", logFile, "--concurrency", "0"}, "--concurrency 0"},
		{"a log that is not there", []string{"parity", "--log", filepath.Join(dir, "none.jsonl")}, "no such file"},
		{"no service", []string{"parity", "--log", logFile, "--target", "http://127.0.0.1:1"}, "connection refused"},
	})
}
