package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/fraudscore/scorer/backfill"
	"github.com/fraudscore/scorer/fraud"
)

// correctFlags are scorer backfill's flags for --correct.
type correctFlags struct {
	on        bool
	since     time.Duration
	from      string
	target    string
	tokenFile string
}

func (c *correctFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.on, "correct", false, "instead of a table, correct the online state of a running service (--target) from the log's span (see --since)")
	fs.DurationVar(&c.since, "since", 72*time.Hour, "with --correct: the span is the events of the log with event_time at or after now minus this")
	fs.StringVar(&c.from, "from", "", "with --correct: RFC 3339 start of the span instead of --since (for a log of the past)")
	fs.StringVar(&c.target, "target", "http://127.0.0.1:8080", "with --correct: the service's base URL")
	fs.StringVar(&c.tokenFile, "admin-token-file", "", "with --correct: file holding an admin token of the service (one of its --admin-tokens-file)")
}

// check validates the flags of a correction and returns the start of the
// span. set holds the flags given.
func (c *correctFlags) check(set map[string]bool, now time.Time) (time.Time, error) {
	if !c.on {
		for _, f := range []string{"since", "from", "target", "admin-token-file"} {
			if set[f] {
				return time.Time{}, fmt.Errorf("--%s goes with --correct", f)
			}
		}
		return time.Time{}, nil
	}
	for _, f := range []string{"out", "labels", "features"} {
		if set[f] {
			return time.Time{}, fmt.Errorf("--%s does not go with --correct: it writes no table, and the service corrects with its own feature definitions", f)
		}
	}
	switch {
	case c.tokenFile == "":
		return time.Time{}, errors.New("--correct needs --admin-token-file: POST /admin/velocity/correct takes an admin token (one of the service's --admin-tokens-file)")
	case set["since"] && set["from"]:
		return time.Time{}, errors.New("give --since or --from, not both")
	case c.from != "":
		return optionalTime("--from", c.from)
	case c.since <= 0:
		return time.Time{}, fmt.Errorf("--since %s: want a positive duration, e.g. 72h", c.since)
	}
	return now.Add(-c.since).UTC(), nil
}

// correctService sends the transactions of log at or after from to the
// service's POST /admin/velocity/correct, which makes the online state of
// their entities from `from` on what the log says, and reports what it
// answered: its JSON on stdout, a summary on stderr.
func correctService(ctx context.Context, c *correctFlags, log *backfill.Log, from time.Time, stdout, stderr io.Writer) error {
	client, err := newServiceClient("--target", c.target, c.tokenFile)
	if err != nil {
		return err
	}
	var span []int
	var first, last, newest time.Time
	for i := range log.Len() {
		t := log.Tx(i).EventTime
		if t.After(newest) {
			newest = t
		}
		if t.Before(from) {
			continue
		}
		if len(span) == 0 || t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
		span = append(span, i)
	}
	if len(span) == 0 {
		if log.Len() == 0 {
			return errors.New("backfill --correct: the log has no valid transaction: nothing to correct")
		}
		return fmt.Errorf("backfill --correct: no transaction of the log has an event_time at or after %s (its newest is %s): nothing to correct; --from sets the start of the span for a log of the past",
			from.Format(time.RFC3339), newest.Format(time.RFC3339))
	}
	fmt.Fprintf(stderr, "backfill: correcting from %s: %d transactions of the log (event times %s .. %s) to %s\n",
		from.Format(time.RFC3339Nano), len(span), first.Format(time.RFC3339), last.Format(time.RFC3339), fraud.MaskString(client.base))

	// The body is written as it is sent: one JSON transaction a line, with
	// the tokens Read put in place of card numbers.
	body := func() io.Reader {
		pr, pw := io.Pipe()
		go func() {
			w := bufio.NewWriterSize(pw, 64<<10)
			var err error
			for _, i := range span {
				tx := log.Tx(i)
				var b []byte
				if b, err = json.Marshal(&tx); err != nil {
					break
				}
				w.Write(b)
				if err = w.WriteByte('\n'); err != nil {
					break
				}
			}
			if err == nil {
				err = w.Flush()
			}
			pw.CloseWithError(err)
		}()
		return pr
	}
	start := time.Now()
	path := "/admin/velocity/correct?from=" + url.QueryEscape(from.Format(time.RFC3339Nano))
	status, b, err := client.do(ctx, http.MethodPost, path, "application/x-ndjson", body)
	if err != nil {
		return fmt.Errorf("backfill --correct: %w", err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("backfill --correct: %w", answerError(http.MethodPost, client.base+"/admin/velocity/correct", status, b))
	}
	var ans struct {
		Transactions, Invalid, Entities, Added, Removed int
	}
	if err := json.Unmarshal(b, &ans); err != nil {
		return fmt.Errorf("backfill --correct: the service's answer is not the JSON expected: %w", err)
	}
	fmt.Fprintf(stdout, "%s\n", b)
	fmt.Fprintf(stderr, "backfill: the service took %d transactions (%d invalid) and corrected %d entities: %d events added, %d removed; %s\n",
		ans.Transactions, ans.Invalid, ans.Entities, ans.Added, ans.Removed, time.Since(start).Round(time.Millisecond))
	if ans.Invalid > 0 || ans.Transactions != len(span) {
		return fmt.Errorf("backfill --correct: the service applied %d of the %d transactions sent (%d invalid to it)", ans.Transactions, len(span), ans.Invalid)
	}
	return nil
}
