package velocity_test

import (
	"context"
	"testing"
	"time"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/velocity"
)

func TestCorrectMakesTheOnlineStateTheLogs(t *testing.T) {
	now := t0.Add(72 * time.Hour)
	s := openStore(t, velocity.Options{Features: designNine(t), Now: func() time.Time { return now }})
	var log []*fraud.Transaction
	add := func(id string, at time.Duration, online bool) {
		tx := ev{id: id, at: at, amount: 100}.tx("card_c")
		log = append(log, &tx)
		if online {
			score(t, s, tx)
		}
	}
	// Online saw a1..a3 and b3; b1 and b2 came too late to be kept (the
	// stream was a day ahead), and the log has everything.
	add("a1", 47*time.Hour, true)
	add("a2", 48*time.Hour, true)
	add("b3", 71*time.Hour, true)
	late := ev{id: "b1", at: 30 * time.Hour, amount: 100}.tx("card_c")
	score(t, s, late) // scored, not kept: older than retention
	log = append(log, &late)
	add("b2", 70*time.Hour+30*time.Minute, false)

	at := t0.Add(71 * time.Hour)
	before, _ := s.FeaturesAt(context.Background(), "card_c", at)
	from := t0.Add(24 * time.Hour).UnixNano()
	c, err := s.Correct(context.Background(), from, log)
	if err != nil {
		t.Fatal(err)
	}
	if c.Added != 1 || c.Removed != 0 {
		t.Errorf("correction %+v, want b2 added (b1 is past retention, as online)", c)
	}
	after, _ := s.FeaturesAt(context.Background(), "card_c", at)
	if b, a := feature(t, before, "card_tx_count_1h"), feature(t, after, "card_tx_count_1h"); b != 1 || a != 2 {
		t.Errorf("card_tx_count_1h at 71h: %v before, %v after, want 1 then 2 (b2 counted)", b, a)
	}
	again, err := s.Correct(context.Background(), from, log)
	if err != nil || again.Added != 0 || again.Removed != 0 {
		t.Errorf("a second correction = %+v, %v, want nothing changed", again, err)
	}
	// An event online has and the log does not is removed.
	c, _ = s.Correct(context.Background(), from, log[:2])
	if c.Removed != 2 {
		t.Errorf("correcting with a1 and a2 only: %+v, want b3 and b2 removed", c)
	}
}

func TestCorrectFromBeforeRetentionKeepsTheAnchors(t *testing.T) {
	now := t0.Add(200 * time.Hour)
	s := openStore(t, velocity.Options{Features: designNine(t), Now: func() time.Time { return now }})
	// card_q went quiet at 0h; card_r moved stream time 100h on. card_q's
	// event is past retention, kept as the anchor of seconds_since_prev.
	quiet := ev{id: "q1", amount: 100}.tx("card_q")
	busy := ev{id: "r1", at: 100 * time.Hour, amount: 100}.tx("card_r")
	score(t, s, quiet)
	score(t, s, busy)
	// A correction from before the horizon with the whole log changes
	// nothing: what is past retention is online's own, as in the batch.
	c, err := s.Correct(context.Background(), t0.UnixNano(), []*fraud.Transaction{&quiet, &busy})
	if err != nil {
		t.Fatal(err)
	}
	if c.Added != 0 || c.Removed != 0 {
		t.Errorf("correction %+v, want nothing changed (q1 is card_q's anchor)", c)
	}
	next := score(t, s, ev{id: "q2", at: 101 * time.Hour, amount: 100}.tx("card_q"))
	if got := feature(t, next.Features, "card_seconds_since_prev"); got != (101 * time.Hour).Seconds() {
		t.Errorf("card_q's next seconds_since_prev = %v, want %v: the anchor was lost", got, (101 * time.Hour).Seconds())
	}
}
