package loadtest

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/fraudscore/scorer/fraud"
)

// Event is one transaction to send, with its ground-truth label.
type Event struct {
	Tx fraud.Transaction
	// Fraud is the label; Scenario names the fraud scenario ("" for normal
	// traffic, or when a replayed log has no scenario).
	Fraud    bool
	Scenario string
	// Due is when the pacer scheduled the send; set by Run.
	Due time.Time
	// stage is the index of the schedule's stage Due falls in; set by Run.
	stage int
}

// Source yields the events of a run in order. Next returns false when the
// source is exhausted (a replayed file at its end); Run then stops early.
// Run calls Next from one goroutine.
type Source interface {
	Next() (Event, bool)
}

// Scenario names, as carried by Event.Scenario.
const (
	ScenarioCardTesting   = "card_testing"
	ScenarioVelocity      = "velocity_attack"
	ScenarioLargeAmount   = "large_amount"
	ScenarioCountryChange = "country_change"
)

// GeneratorConfig configures NewGenerator.
type GeneratorConfig struct {
	Seed      uint64
	Cards     int     // distinct cards, default 10000
	Merchants int     // distinct merchants, default 2000
	FraudRate float64 // fraction of labelled-fraud transactions, e.g. 0.01
	RunID     string  // prefix of every transaction_id, so runs never collide
	// Now is the clock for event times; time.Now when nil.
	Now func() time.Time
	// MinCardGap keeps the hottest cards from transacting more often than
	// once per gap (of the clock): a draw of a hot card used more recently
	// goes to a uniformly drawn cold card instead. Without it, the Zipf
	// head would make a few cards trip the velocity rules at any high rate.
	// The redirected draws land on the cold cards, so at high rates Cards
	// must be large (see Generator). Default 2m; negative turns it off.
	MinCardGap time.Duration
}

// Generator produces realistic, labelled traffic deterministically per
// seed: cards with Zipf-distributed (heavy-tailed) activity, each with a
// home country, currency, typical spend, device and favourite merchants;
// merchants with categories; and, at FraudRate, labelled fraud scenarios
// whose transactions come one after another (see the Scenario constants).
// Event times are the clock's now, minus scenario offsets (never in the
// future). Card ids are "card_" + 12 digits, never a raw card number.
//
// Velocity rules see what a card does per minute, so the traffic is only
// realistic when Cards is large beside the rate: at 1000/s, 10,000 cards
// average 6 transactions a minute each, and the service's velocity rules
// will flag ordinary traffic (false positives in the detection stats). Use
// a million cards or more at thousands per second for realistic detection
// figures.
type Generator struct {
	cfg     GeneratorConfig
	rng     *rand.Rand
	cardZ   *rand.Zipf
	merchZ  *rand.Zipf
	n       uint64
	pending []Event
	hotUsed []int64 // last use (unix ns) of the hottest cards, by rank
	pStart  float64 // probability of starting a scenario at a normal step
}

// meanScenarioLen is the mean number of fraud-labelled transactions per
// scenario, used to turn FraudRate into a scenario start probability:
// card testing ~9, velocity ~11.5, large amount 1, country change 2 (equal odds).
const meanScenarioLen = (9 + 11.5 + 1 + 2) / 4.0

// NewGenerator returns a generator for cfg.
func NewGenerator(cfg GeneratorConfig) *Generator {
	if cfg.Cards <= 0 {
		cfg.Cards = 10000
	}
	if cfg.Merchants <= 0 {
		cfg.Merchants = 2000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MinCardGap == 0 {
		cfg.MinCardGap = 2 * time.Minute
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	f := math.Min(math.Max(cfg.FraudRate, 0), 1)
	var p float64
	if f > 0 {
		// Each normal step starts a scenario with probability p; the
		// fraction of fraud transactions is pL/(1-p+pL) = f.
		p = f / (meanScenarioLen*(1-f) + f)
	}
	return &Generator{
		cfg:     cfg,
		rng:     rng,
		cardZ:   rand.NewZipf(rng, 1.1, 30, uint64(cfg.Cards-1)), // hottest card ~0.75%, hottest 1% ~30%
		merchZ:  rand.NewZipf(rng, 1.2, 2, uint64(cfg.Merchants-1)),
		pStart:  p,
		hotUsed: make([]int64, min(cfg.Cards/2, hotCards)),
	}
}

// hotCards is how many of the hottest cards MinCardGap applies to (8 bytes
// each); colder ones recur rarely enough on their own: with a million
// cards at 1000/s, rank 65536 sees about 0.07 transactions a minute.
const hotCards = 65536

// drawCard draws a card rank from the Zipf distribution, sending a draw of
// a hot card still within MinCardGap of its last use to a uniform cold card.
func (g *Generator) drawCard(now time.Time) uint64 {
	rank := g.cardZ.Uint64()
	hot := uint64(len(g.hotUsed))
	if g.cfg.MinCardGap < 0 || rank >= hot {
		return rank
	}
	if last := g.hotUsed[rank]; last != 0 && now.UnixNano()-last < int64(g.cfg.MinCardGap) {
		return hot + g.rng.Uint64N(uint64(g.cfg.Cards)-hot)
	}
	g.hotUsed[rank] = now.UnixNano()
	return rank
}

// Next returns the next event; a generator never runs out.
func (g *Generator) Next() (Event, bool) {
	if len(g.pending) == 0 {
		if g.pStart > 0 && g.rng.Float64() < g.pStart {
			g.startScenario()
		} else {
			g.pending = append(g.pending, g.normal())
		}
	}
	ev := g.pending[0]
	g.pending = g.pending[1:]
	return ev, true
}

func (g *Generator) nextID() string {
	g.n++
	// The letter keeps the run id's digits and the counter's apart: joined
	// by a dash they could make 13-19 digits in a row, which the service
	// refuses as a card number about one time in ten.
	return g.cfg.RunID + "-t" + strconv.FormatUint(g.n, 10)
}

// mix is splitmix64: card and merchant attributes are derived from it, so
// a million cards cost no memory.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

var (
	countries  = []string{"US", "US", "US", "US", "US", "US", "GB", "GB", "DE", "FR", "CA", "NL", "ES", "IT", "AU", "JP"}
	currencyOf = map[string]string{"US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "NL": "EUR", "ES": "EUR", "IT": "EUR", "CA": "CAD", "AU": "AUD", "JP": "JPY"}
	// foreign countries seen in country-change fraud.
	riskyCountries = []string{"NG", "RU", "BR", "ID", "VN", "RO", "UA", "PH"}
	// categories follow the Sparkov data set; *_net are e-commerce.
	categories = []string{"grocery_pos", "gas_transport", "home", "shopping_pos", "kids_pets", "shopping_net",
		"entertainment", "food_dining", "personal_care", "health_fitness", "misc_pos", "misc_net", "grocery_net", "travel", "atm"}
)

type card struct {
	id, country, currency, device, ip string
	median                            float64 // typical amount in minor units
	favourites                        [3]uint64
}

func (g *Generator) card(rank uint64) card {
	h := mix(g.cfg.Seed ^ mix(rank+1))
	c := card{
		id:      padded("card_", h%1_000_000_000_000, 10, 12),
		country: countries[mix(h)%uint64(len(countries))],
		device:  padded("dev_", mix(h+1)&0xffffffffff, 16, 10),
	}
	c.currency = currencyOf[c.country]
	ip := mix(h + 2)
	var b [len("10.255.255.255")]byte
	n := copy(b[:], "10.")
	n += len(strconv.AppendUint(b[n:n], uint64(byte(ip)), 10))
	b[n] = '.'
	n++
	n += len(strconv.AppendUint(b[n:n], uint64(byte(ip>>8)), 10))
	b[n] = '.'
	n++
	n += len(strconv.AppendUint(b[n:n], uint64(byte(ip>>16)|1), 10))
	c.ip = string(b[:n])
	c.median = 1500 * math.Exp(float64(mix(h+3)%1000)/1000*2) // 15.00 .. 110.84
	for i := range c.favourites {
		c.favourites[i] = mix(h+4+uint64(i)) % uint64(g.cfg.Merchants)
	}
	return c
}

// padded is prefix and v in base, zero-padded to width digits: what
// fmt.Sprintf(prefix+"%0{width}d" or "x", v) writes, for a fraction of the
// cost; a card and a merchant are formatted for every event.
func padded(prefix string, v uint64, base, width int) string {
	var b [64]byte
	n := copy(b[:], prefix)
	var d [20]byte
	digits := strconv.AppendUint(d[:0], v, base)
	for range width - len(digits) {
		b[n] = '0'
		n++
	}
	n += copy(b[n:], digits)
	return string(b[:n])
}

type merchant struct{ id, category, channel string }

func (g *Generator) merchant(i uint64) merchant {
	h := mix(g.cfg.Seed ^ mix(i+0x5bd1e995))
	m := merchant{id: padded("merch_", i, 10, 5), category: categories[h%uint64(len(categories))]}
	switch {
	case m.category == "atm":
		m.channel = "atm"
	case len(m.category) > 4 && m.category[len(m.category)-4:] == "_net":
		m.channel = "ecom"
	case h>>32%50 == 0:
		m.channel = "other"
	default:
		m.channel = "pos"
	}
	return m
}

func (g *Generator) tx(c card, m merchant, amount int64, country string, at time.Time, status fraud.Status) fraud.Transaction {
	cur := currencyOf[country]
	if cur == "" {
		cur = c.currency
	}
	return fraud.Transaction{
		ID: g.nextID(), CardID: c.id, Amount: amount, Currency: cur, EventTime: at.UTC(),
		MerchantID: m.id, MerchantCategory: m.category, DeviceID: c.device,
		Country: country, Channel: m.channel, IP: c.ip, Status: status,
	}
}

func (g *Generator) amount(median float64) int64 {
	a := int64(median * math.Exp(0.9*g.rng.NormFloat64()))
	return max(a, 1)
}

// status of ordinary traffic: mostly unknown (being authorised) or approved.
func (g *Generator) status() fraud.Status {
	switch x := g.rng.IntN(100); {
	case x < 55:
		return fraud.StatusUnknown
	case x < 97:
		return fraud.StatusApproved
	case x < 99:
		return fraud.StatusDeclined
	default:
		return fraud.StatusFailed
	}
}

func (g *Generator) normal() Event {
	now := g.cfg.Now()
	c := g.card(g.drawCard(now))
	var m merchant
	if g.rng.IntN(10) < 7 {
		m = g.merchant(c.favourites[g.rng.IntN(3)])
	} else {
		m = g.merchant(g.merchZ.Uint64())
	}
	country := c.country
	if g.rng.IntN(100) < 3 { // travel
		country = countries[g.rng.IntN(len(countries))]
	}
	return Event{Tx: g.tx(c, m, g.amount(c.median), country, now, g.status())}
}

// victim picks a card uniformly: fraud hits cold cards as well as hot ones.
func (g *Generator) victim() card { return g.card(g.rng.Uint64N(uint64(g.cfg.Cards))) }

func (g *Generator) startScenario() {
	now := g.cfg.Now()
	c := g.victim()
	switch g.rng.IntN(4) {
	case 0: // card testing: 6-12 small attempts within a minute, mostly declined or failed
		n := 6 + g.rng.IntN(7)
		step := time.Duration(2+g.rng.IntN(4)) * time.Second // span <= 11*5s = 55s
		m := g.merchant(g.merchZ.Uint64())
		m.channel = "ecom"
		approved := 0
		for k := range n {
			// Mostly declined or failed; at most a quarter get through.
			st := fraud.StatusDeclined
			switch x := g.rng.IntN(10); {
			case x < 2 && approved < n/4:
				st = fraud.StatusApproved
				approved++
			case x < 5:
				st = fraud.StatusFailed
			}
			at := now.Add(-time.Duration(n-1-k) * step)
			g.emit(ScenarioCardTesting, g.tx(c, m, int64(50+g.rng.IntN(250)), c.country, at, st))
		}
	case 1: // velocity attack: 8-15 ordinary-to-large purchases at many merchants within a minute
		n := 8 + g.rng.IntN(8)
		step := time.Duration(1+g.rng.IntN(3)) * time.Second
		for k := range n {
			m := g.merchant(g.merchZ.Uint64())
			at := now.Add(-time.Duration(n-1-k) * step)
			g.emit(ScenarioVelocity, g.tx(c, m, g.amount(c.median*4), c.country, at, fraud.StatusUnknown))
		}
	case 2: // one unusually large amount: 5,000.00 .. 50,000.00
		m := g.merchant(g.merchZ.Uint64())
		g.emit(ScenarioLargeAmount, g.tx(c, m, int64(500000+g.rng.IntN(4_500_000)), c.country, now, fraud.StatusUnknown))
	default: // country change: the card at home, then twice abroad at new merchants a minute later
		// (offsets stay within the service's default 2m allowed lateness)
		home := g.merchant(c.favourites[0])
		g.pending = append(g.pending, Event{Tx: g.tx(c, home, g.amount(c.median), c.country, now.Add(-90*time.Second), fraud.StatusApproved)})
		abroad := riskyCountries[g.rng.IntN(len(riskyCountries))]
		for k := range 2 {
			m := g.merchant(g.merchZ.Uint64())
			g.emit(ScenarioCountryChange, g.tx(c, m, g.amount(c.median*6), abroad, now.Add(-time.Duration(1-k)*30*time.Second), fraud.StatusUnknown))
		}
	}
}

func (g *Generator) emit(scenario string, tx fraud.Transaction) {
	g.pending = append(g.pending, Event{Tx: tx, Fraud: true, Scenario: scenario})
}
