package velocity_test

import (
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/fraudscore/scorer/velocity"
)

// cardsInShard returns n card ids that land in card shard 0 (of 256).
func cardsInShard(prefix string, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		c := fmt.Sprintf("%s-%d", prefix, i)
		if xxhash.Sum64String(c)%256 == 0 {
			out = append(out, c)
		}
	}
	return out
}

// Begin gets the card's log from cardLog, releases the shard lock, and only
// then takes it again to apply the event and raise pending. In between,
// another card's load may evict the log (its pending is still 0); the event
// goes into an orphaned log while a concurrent op on the same card reloads
// from Badger without it. Two ops on one card then see the same count.
//
// All events of a card have the same event time, so under correct
// serialisation the ops of a card see card_tx_count_24h = 1..N, each once.
func TestEvictionRacingApplyLosesNoEvent(t *testing.T) {
	s := openStore(t, velocity.Options{MaxCachedCards: 256}) // one card per shard
	hot := cardsInShard("hot", 4)
	churn := cardsInShard("churn", 4000)
	const perWorker = 300
	var mu sync.Mutex
	counts := map[string][]int{}
	var wg sync.WaitGroup
	for _, card := range hot {
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func(card string, w int) {
				defer wg.Done()
				for i := 0; i < perWorker; i++ {
					tx := ev{id: fmt.Sprintf("%s-%d-%d", card, w, i), amount: 1}.tx(card)
					op := score(t, s, tx)
					mu.Lock()
					counts[card] = append(counts[card], int(feature(t, op.Features, "card_tx_count_24h")))
					mu.Unlock()
				}
			}(card, w)
		}
	}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(churn); i += 4 {
				score(t, s, ev{id: "c-" + churn[i], amount: 1}.tx(churn[i]))
			}
		}(w)
	}
	wg.Wait()
	for card, cs := range counts {
		sort.Ints(cs)
		dups := 0
		for i := range cs {
			if cs[i] != i+1 {
				dups++
			}
		}
		if dups > 0 {
			t.Errorf("%s: %d of %d ops saw a count that another op also saw (lost update); max count %d", card, dups, len(cs), cs[len(cs)-1])
		}
	}
}
