package backfill_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fraudscore/scorer/backfill"
	"github.com/fraudscore/scorer/features"
)

func TestInvalidRecords(t *testing.T) {
	at := t0.Format(time.RFC3339)
	lines := []string{
		`{"transaction_id":"ok","card_id":"c","amount":1,"currency":"USD","event_time":"` + at + `"}`,
		`{"transaction_id":"bad-amount","card_id":"c","amount":-5,"currency":"USD","event_time":"` + at + `"}`,
		`{"transaction_id":"bad-both","card_id":"c","amount":-5,"currency":"usd","event_time":"` + at + `"}`,
		`{"transaction_id":"pan-in-category","card_id":"c","amount":1,"currency":"USD","event_time":"` + at + `","merchant_category":"4111111111111111"}`,
		`not json 4111111111111111`,
		``,
		`   `,
	}
	path := filepath.Join(t.TempDir(), "log.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("are skipped and counted by reason, without their values", func(t *testing.T) {
		table, st := backfillFile(t, features.Default(), path)
		if table.Len() != 1 || st.Records != 5 || st.Invalid != 4 {
			t.Fatalf("%d rows, stats %+v; want 1 row of 5 records, 4 invalid", table.Len(), st)
		}
		want := map[string]int64{
			"amount: must be an integer in minor units between 0 and 10^12":                 2,
			"currency: must be an ISO 4217 alpha-3 code such as USD":                        1,
			"merchant_category: looks like a raw card number; send a token or hash instead": 1,
			"body: is not valid JSON": 1,
		}
		for k, n := range want {
			if st.Reasons[k] != n {
				t.Errorf("reason %q: %d, want %d (all: %v)", k, st.Reasons[k], n, st.Reasons)
			}
		}
		for k := range st.Reasons {
			if strings.Contains(k, "4111") || strings.Contains(k, "usd") {
				t.Errorf("reason %q holds a value", k)
			}
		}
	})
	t.Run("more than MaxInvalid stop the read", func(t *testing.T) {
		src, err := backfill.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		_, _, err = backfill.Read(context.Background(), src, backfill.ReadOptions{MaxInvalid: 3})
		if !errors.Is(err, backfill.ErrTooManyInvalid) {
			t.Errorf("err = %v, want ErrTooManyInvalid", err)
		}
	})
	t.Run("a CSV row of the wrong width is invalid", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "log.csv")
		data := "transaction_id,card_id,amount,currency,event_time\na,c,1,USD," + at + "\nb,c,1,USD\nc,c,abc,USD," + at + "\n"
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		table, st := backfillFile(t, features.Default(), p)
		if table.Len() != 1 || st.Invalid != 2 || st.Reasons["record: wrong number of CSV fields"] != 1 ||
			st.Reasons["amount: must be a JSON integer"] != 1 {
			t.Errorf("%d rows, stats %+v; want 1 row, one short row and one bad amount", table.Len(), st)
		}
	})
}

func TestUnknownInputFormat(t *testing.T) {
	if _, err := backfill.OpenFile("log.txt"); err == nil {
		t.Error("OpenFile(log.txt) = nil error, want an unknown format")
	}
}
