package features

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fraudscore/scorer/fraud"
)

// Filter selects the events a feature counts: a conjunction of terms. The
// zero Filter selects every event.
type Filter struct {
	terms []term
}

type term struct {
	field  string   // status, channel, country, currency, merchant_category; amount, hour, day_of_week
	op     string   // in, ==, !=, >=, >, <=, <
	values []string // for in, ==, != on strings
	num    int64    // for a comparison of a number
	nums   []int64  // for in on a number
}

var filterFields = []string{"status", "channel", "country", "currency", "merchant_category", "amount", "hour", "day_of_week"}

// numericFields are compared as integers: amount in minor units, hour
// (0-23) and day_of_week (0 Sunday - 6) of event_time in UTC.
var numericFields = []string{"amount", "hour", "day_of_week"}

// ParseFilter parses a filter such as "status in (declined, failed)" or
// "channel == ecom and amount >= 100000".
func ParseFilter(s string) (Filter, error) {
	var f Filter
	for _, part := range strings.Split(s, " and ") {
		t, err := parseTerm(strings.TrimSpace(part))
		if err != nil {
			return Filter{}, err
		}
		f.terms = append(f.terms, t)
	}
	return f, nil
}

func parseTerm(s string) (term, error) {
	fields := strings.Fields(s)
	if len(fields) < 3 {
		return term{}, fmt.Errorf("%q: want <field> <op> <value>", s)
	}
	t := term{field: fields[0], op: fields[1]}
	if !slices.Contains(filterFields, t.field) {
		return term{}, fmt.Errorf("%q: field %q is not one of %s", s, t.field, strings.Join(filterFields, ", "))
	}
	rest := strings.TrimSpace(strings.SplitN(s, t.op, 2)[1])
	if slices.Contains(numericFields, t.field) {
		return parseNumericTerm(s, t, rest)
	}
	switch t.op {
	case "in":
		var err error
		if t.values, err = parseList(s, rest); err != nil {
			return term{}, err
		}
	case "==", "!=":
		t.values = []string{rest}
	default:
		return term{}, fmt.Errorf("%q: %s takes in, == or !=", s, t.field)
	}
	return t, nil
}

// parseList reads "(a, b, c)".
func parseList(s, rest string) ([]string, error) {
	if !strings.HasPrefix(rest, "(") || !strings.HasSuffix(rest, ")") {
		return nil, fmt.Errorf("%q: in takes a list such as (declined, failed)", s)
	}
	var values []string
	for _, v := range strings.Split(rest[1:len(rest)-1], ",") {
		if v = strings.TrimSpace(v); v != "" {
			values = append(values, v)
		}
	}
	if len(values) == 0 {
		return nil, fmt.Errorf("%q: an empty list", s)
	}
	return values, nil
}

// parseNumericTerm reads the comparison or list of a numeric field.
func parseNumericTerm(s string, t term, rest string) (term, error) {
	if t.op == "in" {
		values, err := parseList(s, rest)
		if err != nil {
			return term{}, err
		}
		for _, v := range values {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return term{}, fmt.Errorf("%q: %s in takes a list of integers", s, t.field)
			}
			t.nums = append(t.nums, n)
		}
		return t, nil
	}
	if !slices.Contains([]string{">=", ">", "<=", "<", "==", "!="}, t.op) {
		return term{}, fmt.Errorf("%q: %s takes in, >=, >, <=, <, == or !=", s, t.field)
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		unit := "an integer"
		if t.field == "amount" {
			unit = "an integer of minor units"
		}
		return term{}, fmt.Errorf("%q: %s compares with %s", s, t.field, unit)
	}
	t.num = n
	return t, nil
}

// Match reports whether tx passes the filter.
func (f Filter) Match(tx *fraud.Transaction) bool {
	for i := range f.terms {
		if !f.terms[i].match(tx) {
			return false
		}
	}
	return true
}

// IsZero reports whether f selects every event.
func (f Filter) IsZero() bool { return len(f.terms) == 0 }

func (t *term) match(tx *fraud.Transaction) bool {
	if slices.Contains(numericFields, t.field) {
		var a int64
		switch t.field {
		case "amount":
			a = tx.Amount
		case "hour":
			a = int64(tx.EventTime.UTC().Hour())
		default:
			a = int64(tx.EventTime.UTC().Weekday())
		}
		switch t.op {
		case "in":
			return slices.Contains(t.nums, a)
		case ">=":
			return a >= t.num
		case ">":
			return a > t.num
		case "<=":
			return a <= t.num
		case "<":
			return a < t.num
		case "==":
			return a == t.num
		default:
			return a != t.num
		}
	}
	var v string
	switch t.field {
	case "status":
		v = string(tx.Status)
	case "channel":
		v = tx.Channel
	case "country":
		v = tx.Country
	case "currency":
		v = tx.Currency
	case "merchant_category":
		v = tx.MerchantCategory
	}
	in := slices.Contains(t.values, v)
	if t.op == "!=" {
		return !in
	}
	return in
}

// String is the filter in a normal form: what two filters that select the
// same events by the same terms have in common.
func (f Filter) String() string {
	parts := make([]string, len(f.terms))
	for i, t := range f.terms {
		switch {
		case t.nums != nil:
			nums := make([]string, len(t.nums))
			for k, n := range t.nums {
				nums[k] = strconv.FormatInt(n, 10)
			}
			parts[i] = fmt.Sprintf("%s in (%s)", t.field, strings.Join(nums, ", "))
		case slices.Contains(numericFields, t.field):
			parts[i] = fmt.Sprintf("%s %s %d", t.field, t.op, t.num)
		case t.op == "in":
			parts[i] = fmt.Sprintf("%s in (%s)", t.field, strings.Join(t.values, ", "))
		default:
			parts[i] = fmt.Sprintf("%s %s %s", t.field, t.op, t.values[0])
		}
	}
	return strings.Join(parts, " and ")
}
