package loadtest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fraudscore/scorer/fraud"
)

var genNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func generate(t *testing.T, cfg GeneratorConfig, n int) []Event {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return genNow }
	}
	g := NewGenerator(cfg)
	evs := make([]Event, n)
	for i := range evs {
		ev, ok := g.Next()
		if !ok {
			t.Fatal("generator ran out")
		}
		evs[i] = ev
	}
	return evs
}

// withoutRun strips the run id prefix of the transaction id.
func withoutRun(ev Event, runID string) Event {
	ev.Tx.ID = strings.TrimPrefix(ev.Tx.ID, runID+"-")
	return ev
}

func TestGeneratorDeterministicPerSeed(t *testing.T) {
	a := generate(t, GeneratorConfig{Seed: 7, Cards: 5000, FraudRate: 0.05, RunID: "runA"}, 1000)
	b := generate(t, GeneratorConfig{Seed: 7, Cards: 5000, FraudRate: 0.05, RunID: "runB"}, 1000)
	c := generate(t, GeneratorConfig{Seed: 8, Cards: 5000, FraudRate: 0.05, RunID: "runA"}, 1000)

	t.Run("same seed gives the same transactions", func(t *testing.T) {
		for i := range a {
			if got, want := withoutRun(b[i], "runB"), withoutRun(a[i], "runA"); got != want {
				t.Fatalf("event %d differs:\n got %+v\nwant %+v", i, got, want)
			}
		}
	})
	t.Run("run id prefixes every transaction id", func(t *testing.T) {
		seen := map[string]bool{}
		for _, ev := range a {
			if !strings.HasPrefix(ev.Tx.ID, "runA-") || seen[ev.Tx.ID] {
				t.Fatalf("transaction id %q: want a unique id with prefix runA-", ev.Tx.ID)
			}
			seen[ev.Tx.ID] = true
		}
	})
	t.Run("another seed gives other transactions", func(t *testing.T) {
		same := 0
		for i := range a {
			if a[i].Tx.CardID == c[i].Tx.CardID && a[i].Tx.Amount == c[i].Tx.Amount {
				same++
			}
		}
		if same > 50 {
			t.Errorf("%d of 1000 events have the same card and amount under seeds 7 and 8", same)
		}
	})
}

func TestGeneratorTrafficIsValid(t *testing.T) {
	evs := generate(t, GeneratorConfig{Seed: 1, Cards: 10000, FraudRate: 0.05, RunID: "r"}, 20000)
	lim := fraud.Limits{Now: genNow, MaxFutureSkew: 5 * time.Minute}
	for _, ev := range evs {
		b, err := json.Marshal(ev.Tx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fraud.DecodeTransaction(b, lim); err != nil {
			t.Fatalf("generated transaction is invalid: %v\n%s", err, b)
		}
		if fraud.LooksLikePAN(ev.Tx.CardID) {
			t.Fatalf("card_id %q looks like a PAN", ev.Tx.CardID)
		}
		if ev.Tx.EventTime.After(genNow) || genNow.Sub(ev.Tx.EventTime) > 2*time.Minute {
			t.Fatalf("event_time %v: want within the 2 minutes up to now %v", ev.Tx.EventTime, genNow)
		}
	}
}

func TestGeneratorHeavyTailedCards(t *testing.T) {
	// One transaction a second (of the generator's clock): the hot cards'
	// MinCardGap rarely binds, and the Zipf tail shows.
	clock := genNow
	tick := func() time.Time { clock = clock.Add(time.Second); return clock }
	evs := generate(t, GeneratorConfig{Seed: 3, Cards: 10000, RunID: "r", Now: tick}, 50000)
	perCard := map[string]int{}
	for _, ev := range evs {
		perCard[ev.Tx.CardID]++
	}
	counts := make([]int, 0, len(perCard))
	for _, n := range perCard {
		counts = append(counts, n)
	}
	slices.Sort(counts)
	slices.Reverse(counts)
	top := 0
	for _, n := range counts[:100] { // the hottest 1% of the cards
		top += n
	}
	if share := float64(top) / float64(len(evs)); share < 0.2 {
		t.Errorf("the hottest 100 of 10000 cards have %.1f%% of the traffic, want a heavy tail (>= 20%%)", share*100)
	}
	if len(perCard) < 2000 {
		t.Errorf("only %d distinct cards in 50000 transactions, want many", len(perCard))
	}

	t.Run("at a high rate no hot card repeats within MinCardGap", func(t *testing.T) {
		clock := genNow
		tick := func() time.Time { clock = clock.Add(time.Millisecond); return clock } // 1000/s
		evs := generate(t, GeneratorConfig{Seed: 3, Cards: 1_000_000, RunID: "r", Now: tick}, 60000)
		perMinute := map[string]int{}
		for _, ev := range evs {
			if ev.Scenario == "" {
				perMinute[ev.Tx.CardID]++
			}
		}
		for card, n := range perMinute {
			if n >= 5 {
				t.Errorf("%s has %d ordinary transactions in one minute at 1000/s, want fewer than 5", card, n)
			}
		}
	})
}

func TestGeneratorFraudScenarios(t *testing.T) {
	const rate = 0.05
	evs := generate(t, GeneratorConfig{Seed: 11, Cards: 10000, FraudRate: rate, RunID: "r"}, 40000)

	frauds := map[string]int{}
	nFraud := 0
	for _, ev := range evs {
		if ev.Fraud {
			nFraud++
			frauds[ev.Scenario]++
		} else if ev.Scenario != "" {
			t.Fatalf("unlabelled event with scenario %q", ev.Scenario)
		}
	}
	t.Run("fraud rate is about --fraud-rate", func(t *testing.T) {
		if got := float64(nFraud) / float64(len(evs)); got < rate/2 || got > rate*1.5 {
			t.Errorf("fraud share %.4f, want about %.2f", got, rate)
		}
		for _, s := range []string{ScenarioCardTesting, ScenarioVelocity, ScenarioLargeAmount, ScenarioCountryChange} {
			if frauds[s] == 0 {
				t.Errorf("no %s transactions in %d events", s, len(evs))
			}
		}
	})

	t.Run("card-testing bursts are many small mostly failed attempts of one card within a minute", func(t *testing.T) {
		bursts := 0
		for i := 0; i < len(evs); {
			if evs[i].Scenario != ScenarioCardTesting {
				i++
				continue
			}
			j := i
			for j < len(evs) && evs[j].Scenario == ScenarioCardTesting && evs[j].Tx.CardID == evs[i].Tx.CardID {
				j++
			}
			if j == len(evs) {
				break // cut short by the end of the sample
			}
			burst := evs[i:j]
			bursts++
			failed := 0
			for _, ev := range burst {
				if ev.Tx.Amount >= 1000 {
					t.Errorf("card-testing amount %d, want small (< 10.00)", ev.Tx.Amount)
				}
				if ev.Tx.Status.Failed() {
					failed++
				}
			}
			span := burst[len(burst)-1].Tx.EventTime.Sub(burst[0].Tx.EventTime)
			if len(burst) < 5 || span > time.Minute || failed*2 <= len(burst) {
				t.Errorf("burst on %s: %d transactions over %v, %d failed; want >= 5 within 60s, mostly failed",
					burst[0].Tx.CardID, len(burst), span, failed)
			}
			i = j
		}
		if bursts == 0 {
			t.Fatal("no card-testing burst")
		}
	})

	t.Run("large amounts are at least 5000.00", func(t *testing.T) {
		for _, ev := range evs {
			if ev.Scenario == ScenarioLargeAmount && ev.Tx.Amount < 500000 {
				t.Errorf("large_amount of %d minor units", ev.Tx.Amount)
			}
		}
	})

	t.Run("velocity attacks are many transactions of one card within a minute", func(t *testing.T) {
		for i := 0; i < len(evs); {
			if evs[i].Scenario != ScenarioVelocity {
				i++
				continue
			}
			j := i
			for j < len(evs) && evs[j].Scenario == ScenarioVelocity && evs[j].Tx.CardID == evs[i].Tx.CardID {
				j++
			}
			if j == len(evs) {
				break // cut short by the end of the sample
			}
			if n, span := j-i, evs[j-1].Tx.EventTime.Sub(evs[i].Tx.EventTime); n < 8 || span > time.Minute {
				t.Errorf("velocity attack of %d transactions over %v, want >= 8 within 60s", n, span)
			}
			i = j
		}
	})

	t.Run("country changes leave the card's home country", func(t *testing.T) {
		for i, ev := range evs {
			if ev.Scenario == ScenarioCountryChange && i > 0 && evs[i-1].Scenario == "" &&
				evs[i-1].Tx.CardID == ev.Tx.CardID && evs[i-1].Tx.Country == ev.Tx.Country {
				t.Errorf("country change of %s stays in %s", ev.Tx.CardID, ev.Tx.Country)
			}
		}
	})
}

// TestGeneratorIdsAreWhatSprintfWrote pins the card, device, IP and merchant
// strings to what fmt.Sprintf wrote before they were built by hand: the
// same seed must give the same traffic as before.
func TestGeneratorIdsAreWhatSprintfWrote(t *testing.T) {
	for _, seed := range []uint64{0, 1, 7, 1 << 63} {
		g := NewGenerator(GeneratorConfig{Seed: seed, Cards: 1_000_000, Merchants: 200_000})
		for rank := range uint64(3000) {
			h := mix(g.cfg.Seed ^ mix(rank+1))
			ip := mix(h + 2)
			c := g.card(rank)
			if want := fmt.Sprintf("card_%012d", h%1_000_000_000_000); c.id != want {
				t.Fatalf("card id %q, want %q", c.id, want)
			}
			if want := fmt.Sprintf("dev_%010x", mix(h+1)&0xffffffffff); c.device != want {
				t.Fatalf("device %q, want %q", c.device, want)
			}
			if want := fmt.Sprintf("10.%d.%d.%d", byte(ip), byte(ip>>8), byte(ip>>16)|1); c.ip != want {
				t.Fatalf("ip %q, want %q", c.ip, want)
			}
		}
		for _, i := range []uint64{0, 1, 9, 10, 99999, 100000, 123456, 199999} {
			if got, want := g.merchant(i).id, fmt.Sprintf("merch_%05d", i); got != want {
				t.Fatalf("merchant id %q, want %q", got, want)
			}
		}
	}
	for _, v := range []uint64{0, 1, 0xf, 0xffffffffff, 999_999_999_999, 1 << 63, ^uint64(0)} {
		for _, w := range []int{0, 5, 12, 25} {
			if got, want := padded("p_", v, 10, w), fmt.Sprintf("p_%0*d", w, v); got != want {
				t.Errorf("padded(%d, 10, %d) = %q, want %q", v, w, got, want)
			}
			if got, want := padded("", v, 16, w), fmt.Sprintf("%0*x", w, v); got != want {
				t.Errorf("padded(%d, 16, %d) = %q, want %q", v, w, got, want)
			}
		}
	}
}

func BenchmarkGenerator(b *testing.B) {
	g := NewGenerator(GeneratorConfig{Seed: 1, Cards: 100000, FraudRate: 0.01, RunID: "bench"})
	b.ReportAllocs()
	for b.Loop() {
		g.Next()
	}
}
