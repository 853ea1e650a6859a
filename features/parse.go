package features

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Parse reads a definitions file (YAML; name is used in errors):
//
//	features:
//	  - name: card_tx_count_1h          # unique, [a-z][a-z0-9_]*; rules and models use it
//	    entity: card_id                 # card_id, device_id, merchant_id, ip, country, or a + of them
//	    agg: count                      # count | sum | avg | min | max | distinct_count | last | seconds_since_prev
//	    window: {type: sliding, size: 1h}
//	  - name: card_failed_count_10m
//	    entity: card_id
//	    agg: count
//	    filter: "status in (declined, failed)"
//	    window: {type: sliding, size: 10m}
//	  - name: card_amount_sum_5m_tumbling
//	    entity: card_id
//	    agg: sum
//	    field: amount                   # sum/avg/min/max/last: amount; distinct_count: an identifier
//	    window: {type: tumbling, size: 5m}
//	  - name: card_session_tx_count
//	    entity: card_id
//	    agg: count
//	    window: {type: session, gap: 30m}   # max_span: 24h by default
//	  - name: tx_hour_of_day
//	    stateless: hour_of_day          # hour_of_day | day_of_week | amount | merchant_category | channel | match | ratio
//	  - name: merchant_category_code
//	    stateless: merchant_category
//	    values: [grocery_pos, shopping_net]   # 1 + index, 0 when not listed
//	  - name: amount_vs_card_avg_30d
//	    stateless: ratio
//	    of: [amount, card_amount_avg_30d]     # features, or the transaction's amount; 0 when the second is 0
//	  - name: tx_at_night
//	    stateless: match                # 1 when the transaction passes the filter, else 0
//	    filter: "hour in (22, 23, 0, 1, 2, 3)"
//
// Durations take Go's units and d for days (30d). A filter is a
// conjunction ("and") of "field in (a, b)", "field == a", "field != a"
// over status, channel, country, currency and merchant_category, and of
// "field <op> integer" or "field in (1, 2)" over amount (minor units),
// hour (0-23) and day_of_week (0 Sunday - 6) of event_time in UTC, with op
// one of >=, >, <=, <, ==, !=. Every error names the file and line.
func Parse(data []byte, name string) (*Set, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: want a mapping with a features list", name)
	}
	top := root.Content[0]
	var list *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		switch k := top.Content[i].Value; k {
		case "features":
			list = top.Content[i+1]
		default:
			return nil, fmt.Errorf("%s:%d: unknown key %q (want features)", name, top.Content[i].Line, k)
		}
	}
	if list == nil || list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		return nil, fmt.Errorf("%s: features must be a non-empty list", name)
	}
	s := &Set{}
	p := parser{file: name, set: s, byName: map[string]int{}}
	for _, item := range list.Content {
		p.def(item)
	}
	p.resolve()
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	s.finish()
	return s, nil
}

type rawDef struct {
	Name      string   `yaml:"name"`
	Entity    string   `yaml:"entity"`
	Agg       string   `yaml:"agg"`
	Field     string   `yaml:"field"`
	Filter    string   `yaml:"filter"`
	Window    *rawWin  `yaml:"window"`
	Stateless string   `yaml:"stateless"`
	Values    []string `yaml:"values"`
	Of        []string `yaml:"of"`
}

type rawWin struct {
	Type    string `yaml:"type"`
	Size    string `yaml:"size"`
	Gap     string `yaml:"gap"`
	MaxSpan string `yaml:"max_span"`
}

var knownKeys = []string{"name", "entity", "agg", "field", "filter", "window", "stateless", "values", "of"}

type parser struct {
	file   string
	set    *Set
	errs   []error
	byName map[string]int
	ofRaw  map[int][]string
}

func (p *parser) errorf(line int, format string, a ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s:%d: %s", p.file, line, fmt.Sprintf(format, a...)))
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Entity fields, and the identifiers distinct_count may count.
var (
	entityFields   = []string{"card_id", "device_id", "merchant_id", "ip", "country"}
	distinctFields = []string{"card_id", "device_id", "merchant_id", "ip", "country", "merchant_category", "channel", "currency"}
	aggs           = []Agg{Count, Sum, Avg, Min, Max, DistinctCount, Last, SincePrev}
)

// maxSlots is how many distinct_count fields one entity's events can keep.
const maxSlots = 2

func (p *parser) def(item *yaml.Node) {
	line := item.Line
	if item.Kind != yaml.MappingNode {
		p.errorf(line, "each feature must be a mapping")
		return
	}
	for i := 0; i < len(item.Content); i += 2 {
		if k := item.Content[i].Value; !slices.Contains(knownKeys, k) {
			p.errorf(item.Content[i].Line, "unknown key %q", k)
		}
	}
	var r rawDef
	if err := item.Decode(&r); err != nil {
		p.errorf(line, "%v", err)
		return
	}
	d := Def{Name: r.Name, Line: line}
	switch {
	case !nameRE.MatchString(r.Name):
		p.errorf(line, "feature name %q: want lower case letters, digits and _, starting with a letter", r.Name)
	case p.byName[r.Name] != 0:
		p.errorf(line, "feature %s: defined twice (first at line %d)", r.Name, p.byName[r.Name])
	default:
		p.byName[r.Name] = line
	}
	if r.Stateless != "" {
		p.stateless(&d, &r)
	} else {
		p.stateful(&d, &r)
	}
	p.set.defs = append(p.set.defs, d)
}

func (p *parser) stateless(d *Def, r *rawDef) {
	if r.Entity != "" || r.Agg != "" || r.Field != "" || r.Window != nil {
		p.errorf(d.Line, "feature %s: a stateless feature has no entity, agg, field or window", d.Name)
	}
	d.Stateless = Stateless(r.Stateless)
	if d.Stateless != Match && r.Filter != "" {
		p.errorf(d.Line, "feature %s: of the stateless features only match takes a filter", d.Name)
	}
	switch d.Stateless {
	case HourOfDay, DayOfWeek, Amount:
	case Match:
		if r.Filter == "" {
			p.errorf(d.Line, "feature %s: match needs a filter, e.g. \"hour in (22, 23, 0, 1, 2, 3)\"", d.Name)
			break
		}
		f, err := ParseFilter(r.Filter)
		if err != nil {
			p.errorf(d.Line, "feature %s: filter %v", d.Name, err)
		}
		d.Filter = f
	case MerchantCategory:
		if len(r.Values) == 0 {
			p.errorf(d.Line, "feature %s: merchant_category needs values: the categories to number", d.Name)
		}
		d.Values = r.Values
	case Channel:
		d.Values = r.Values
		if d.Values == nil {
			d.Values = []string{"pos", "ecom", "atm", "other"}
		}
	case Ratio:
		if len(r.Of) != 2 {
			p.errorf(d.Line, "feature %s: ratio needs of: [numerator, denominator]", d.Name)
			return
		}
		if p.ofRaw == nil {
			p.ofRaw = map[int][]string{}
		}
		p.ofRaw[len(p.set.defs)] = r.Of
	default:
		p.errorf(d.Line, "feature %s: unknown stateless %q (want hour_of_day, day_of_week, amount, merchant_category, channel, match or ratio)", d.Name, r.Stateless)
	}
	if d.Stateless != MerchantCategory && d.Stateless != Channel && r.Values != nil {
		p.errorf(d.Line, "feature %s: values only go with merchant_category and channel", d.Name)
	}
	if d.Stateless != Ratio && r.Of != nil {
		p.errorf(d.Line, "feature %s: of only goes with ratio", d.Name)
	}
}

func (p *parser) stateful(d *Def, r *rawDef) {
	if r.Values != nil || r.Of != nil {
		p.errorf(d.Line, "feature %s: values and of go with stateless features", d.Name)
	}
	d.Entity = p.entity(d, r.Entity)
	d.Agg = Agg(r.Agg)
	switch {
	case r.Agg == "":
		p.errorf(d.Line, "feature %s: agg is required (one of %s), or stateless", d.Name, joinAggs())
	case !slices.Contains(aggs, d.Agg):
		p.errorf(d.Line, "feature %s: unknown agg %q (want one of %s)", d.Name, r.Agg, joinAggs())
	}
	d.Field = r.Field
	switch d.Agg {
	case Sum, Avg, Min, Max, Last:
		if r.Field != "amount" {
			p.errorf(d.Line, "feature %s: %s needs field: amount", d.Name, d.Agg)
		}
	case DistinctCount:
		if !slices.Contains(distinctFields, r.Field) {
			p.errorf(d.Line, "feature %s: distinct_count needs a field among %s", d.Name, strings.Join(distinctFields, ", "))
		} else if d.Entity >= 0 {
			e := &p.set.entities[d.Entity]
			if !slices.Contains(e.slots, r.Field) {
				if len(e.slots) == maxSlots {
					p.errorf(d.Line, "feature %s: entity %s already counts distinct %s; at most %d fields per entity",
						d.Name, e.Name, strings.Join(e.slots, " and "), maxSlots)
				} else {
					e.slots = append(e.slots, r.Field)
				}
			}
		}
	case Count, SincePrev:
		if r.Field != "" {
			p.errorf(d.Line, "feature %s: %s takes no field", d.Name, d.Agg)
		}
	}
	if r.Filter != "" {
		f, err := ParseFilter(r.Filter)
		if err != nil {
			p.errorf(d.Line, "feature %s: filter: %v", d.Name, err)
		}
		d.Filter = f
		p.addFilter(d.Line, f)
	}
	if d.Agg == SincePrev {
		if r.Window != nil {
			p.errorf(d.Line, "feature %s: seconds_since_prev has no window", d.Name)
		}
		return
	}
	if r.Window == nil {
		p.errorf(d.Line, "feature %s: window is required", d.Name)
		return
	}
	w := r.Window
	d.Window.Type = WindowType(w.Type)
	var err error
	switch d.Window.Type {
	case Sliding, Tumbling:
		if d.Window.Size, err = parseDuration(w.Size); err != nil || d.Window.Size <= 0 {
			p.errorf(d.Line, "feature %s: %s window needs a positive size such as 5m, 1h or 7d", d.Name, d.Window.Type)
		}
		if w.Gap != "" || w.MaxSpan != "" {
			p.errorf(d.Line, "feature %s: gap and max_span go with session windows", d.Name)
		}
		p.set.retention = max(p.set.retention, d.Window.Size)
	case Session:
		if d.Window.Gap, err = parseDuration(w.Gap); err != nil || d.Window.Gap <= 0 {
			p.errorf(d.Line, "feature %s: session window needs a positive gap such as 30m", d.Name)
		}
		d.Window.MaxSpan = 24 * time.Hour
		if w.MaxSpan != "" {
			if d.Window.MaxSpan, err = parseDuration(w.MaxSpan); err != nil || d.Window.MaxSpan < d.Window.Gap {
				p.errorf(d.Line, "feature %s: max_span must be a duration no shorter than gap", d.Name)
			}
		}
		if w.Size != "" {
			p.errorf(d.Line, "feature %s: a session window has a gap, not a size", d.Name)
		}
		p.set.retention = max(p.set.retention, d.Window.MaxSpan)
	default:
		p.errorf(d.Line, "feature %s: window type %q (want sliding, tumbling or session)", d.Name, w.Type)
	}
}

// entity returns the index of the named entity, adding it when new, or -1.
func (p *parser) entity(d *Def, name string) int {
	if name == "" {
		p.errorf(d.Line, "feature %s: entity is required (%s, or a + of them), or stateless", d.Name, strings.Join(entityFields, ", "))
		return -1
	}
	fields := strings.Split(name, "+")
	for _, f := range fields {
		if !slices.Contains(entityFields, f) {
			p.errorf(d.Line, "feature %s: entity %q: %q is not one of %s", d.Name, name, f, strings.Join(entityFields, ", "))
			return -1
		}
	}
	for i, e := range p.set.entities {
		if e.Name == name {
			return i
		}
	}
	p.set.entities = append(p.set.entities, Entity{Name: name, Fields: fields})
	p.set.perEntity = append(p.set.perEntity, nil)
	return len(p.set.entities) - 1
}

func (p *parser) addFilter(line int, f Filter) {
	for _, g := range p.set.filters {
		if g.String() == f.String() {
			return
		}
	}
	if len(p.set.filters) == 64 {
		p.errorf(line, "more than 64 different filters")
		return
	}
	p.set.filters = append(p.set.filters, f)
}

// resolve links ratios to their features and indexes defs by entity.
func (p *parser) resolve() {
	s := p.set
	for i := range s.defs {
		d := &s.defs[i]
		if d.IsStateless() {
			if d.Stateless != Ratio {
				s.stateless = append(s.stateless, i)
			}
			continue
		}
		if d.Entity >= 0 {
			s.perEntity[d.Entity] = append(s.perEntity[d.Entity], i)
		}
	}
	for i := range s.defs {
		d := &s.defs[i]
		if d.Stateless != Ratio {
			continue
		}
		s.stateless = append(s.stateless, i) // ratios last: they read the others
		for j, name := range p.ofRaw[i] {
			k := slices.IndexFunc(s.defs, func(x Def) bool { return x.Name == name })
			switch {
			case k < 0 && name == "amount":
				d.Of[j] = OfAmount
			case k < 0:
				p.errorf(d.Line, "feature %s: of: no feature %q", d.Name, name)
			case s.defs[k].Stateless == Ratio:
				p.errorf(d.Line, "feature %s: of: %q is a ratio itself", d.Name, name)
			default:
				d.Of[j] = k
			}
		}
	}
}

func joinAggs() string {
	parts := make([]string, len(aggs))
	for i, a := range aggs {
		parts[i] = string(a)
	}
	return strings.Join(parts, ", ")
}

// parseDuration is time.ParseDuration with d (24h) as a unit.
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return 0, err
		}
		return time.Duration(days * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}
