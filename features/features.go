// Package features holds the feature definitions that every part of the
// scorer computes from: the online velocity store, the batch backfill, the
// trainer and the evaluator. One file defines them (see Parse for its
// shape; default.yaml is the embedded default); this package parses and
// validates it, and computes the features of a transaction over an
// ordered log of its entity's events, so that online and batch values are
// the same by construction.
//
//	set, err := features.Load("features.yaml")
//	log := &features.Log{}
//	i := log.Insert(set.Event(0, &tx))
//	vals := log.Compute(set, 0, t, i, make([]float64, set.Len()))
package features

import (
	_ "embed"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
)

//go:embed default.yaml
var defaultYAML []byte

// Agg is what a stateful feature computes over its window.
type Agg string

// The aggregations.
const (
	Count         Agg = "count"
	Sum           Agg = "sum"
	Avg           Agg = "avg"
	Min           Agg = "min"
	Max           Agg = "max"
	DistinctCount Agg = "distinct_count"
	Last          Agg = "last"
	SincePrev     Agg = "seconds_since_prev"
)

// WindowType is the shape of a stateful feature's window.
type WindowType string

// The window types.
const (
	Sliding  WindowType = "sliding"
	Tumbling WindowType = "tumbling"
	Session  WindowType = "session"
)

// Window is a stateful feature's window. A sliding window of a
// transaction at t covers (t-Size, t]; a tumbling one the aligned
// [k*Size, (k+1)*Size) that t falls in; a session one the run of the
// entity's events with gaps under Gap that ends with t, at most MaxSpan
// long.
type Window struct {
	Type    WindowType
	Size    time.Duration // sliding, tumbling
	Gap     time.Duration // session
	MaxSpan time.Duration // session [24h]
}

// Stateless names a feature computed from the transaction alone.
type Stateless string

// The stateless features.
const (
	HourOfDay        Stateless = "hour_of_day"       // 0-23, of event_time in UTC
	DayOfWeek        Stateless = "day_of_week"       // 0 (Sunday) - 6
	Amount           Stateless = "amount"            // minor units
	MerchantCategory Stateless = "merchant_category" // 1 + index in Values, 0 when not listed
	Channel          Stateless = "channel"           // 1 + index in Values [pos, ecom, atm, other], 0 when absent
	Ratio            Stateless = "ratio"             // Of[0] / Of[1], 0 when Of[1] is 0
	Match            Stateless = "match"             // 1 when the transaction passes Filter, else 0
)

// OfAmount in Def.Of is the transaction's amount rather than a feature.
const OfAmount = -1

// Def is one feature definition.
type Def struct {
	Name string
	Line int // in the file it came from
	// Stateful features:
	Entity int // index in Set.Entities
	Agg    Agg
	Field  string // the transaction field aggregated (sum/avg/min/max/last: amount; distinct_count: an identifier)
	Filter Filter
	Window Window
	// Stateless features:
	Stateless Stateless
	Values    []string // MerchantCategory, Channel
	Of        [2]int   // Ratio: indexes of the numerator and denominator features, or OfAmount
}

// IsStateless reports whether d is computed from the transaction alone.
func (d *Def) IsStateless() bool { return d.Stateless != "" }

// Entity is what stateful features are kept per: one or more transaction
// fields whose values together identify it, e.g. card_id, or
// card_id+merchant_id.
type Entity struct {
	Name   string   // "card_id", "card_id+merchant_id"
	Fields []string // the fields, in Name's order
	// slots name the string fields whose hashes events of this entity keep
	// (for distinct_count), at most maxSlots.
	slots []string
}

// Set is a validated list of feature definitions, in file order. It is
// immutable and safe for concurrent use.
type Set struct {
	defs     []Def
	entities []Entity
	names    []string
	// perEntity lists, for each entity, the indexes of its stateful defs.
	perEntity [][]int
	stateless []int // stateless defs, ratios last
	filters   []Filter
	bit       []int // per def: the index of its filter in filters, -1 for none
	slot      []int // per def: the index of its field in its entity's slots
	retention time.Duration
	id        uint64
}

// Len is the number of features.
func (s *Set) Len() int { return len(s.defs) }

// Defs returns the definitions, in order. The slice must not be modified.
func (s *Set) Defs() []Def { return s.defs }

// Names returns the feature names, in order. The slice must not be
// modified.
func (s *Set) Names() []string { return s.names }

// Entities returns the entities of the stateful features. The slice must
// not be modified.
func (s *Set) Entities() []Entity { return s.entities }

// OfEntity returns the indexes of the stateful defs kept per entity e.
func (s *Set) OfEntity(e int) []int { return s.perEntity[e] }

// Retention is how far back from the newest event an entity's events are
// needed: the longest window (a session's MaxSpan).
func (s *Set) Retention() time.Duration { return s.retention }

// ID identifies the definitions (a hash of their normalised form): state
// or tables computed under one ID were computed under the same
// definitions.
func (s *Set) ID() uint64 { return s.id }

// Index returns the position of the named feature, or -1.
func (s *Set) Index(name string) int { return slices.Index(s.names, name) }

// Default returns the embedded default definitions: the nine features of
// DESIGN.md, all per card.
func Default() *Set {
	s, err := Parse(defaultYAML, "default.yaml")
	if err != nil {
		panic("features: embedded default.yaml: " + err.Error())
	}
	return s
}

// DefaultYAML is the text of the embedded default definitions.
func DefaultYAML() []byte { return slices.Clone(defaultYAML) }

// Load reads and parses a definitions file.
func Load(path string) (*Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	return Parse(b, path)
}

func (s *Set) finish() {
	var norm strings.Builder
	s.bit = make([]int, len(s.defs))
	s.slot = make([]int, len(s.defs))
	for i := range s.defs {
		d := &s.defs[i]
		s.names = append(s.names, d.Name)
		s.bit[i] = -1
		if !d.Filter.IsZero() {
			s.bit[i] = slices.IndexFunc(s.filters, func(f Filter) bool { return f.String() == d.Filter.String() })
		}
		if d.Agg == DistinctCount {
			s.slot[i] = slices.Index(s.entities[d.Entity].slots, d.Field)
		}
		fmt.Fprintf(&norm, "%s|%s|%s|%s|%s|%v|%s|%v|%v\n", d.Name, d.Agg, d.Field, d.Filter.String(), d.Window.Type,
			[]time.Duration{d.Window.Size, d.Window.Gap, d.Window.MaxSpan}, d.Stateless, d.Values, d.Of)
		if !d.IsStateless() {
			norm.WriteString(s.entities[d.Entity].Name + "\n")
		}
	}
	s.id = xxhash.Sum64String(norm.String())
}

// EntityIndex returns the index of the named entity ("card_id"), or -1.
func (s *Set) EntityIndex(name string) int {
	return slices.IndexFunc(s.entities, func(e Entity) bool { return e.Name == name })
}
