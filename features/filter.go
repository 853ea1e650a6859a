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
	field  string   // status, channel, country, currency, merchant_category, amount
	op     string   // in, ==, !=, >=, >, <=, <
	values []string // for in, ==, != on strings
	num    int64    // for amount
}

var filterFields = []string{"status", "channel", "country", "currency", "merchant_category", "amount"}

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
	if t.field == "amount" {
		if !slices.Contains([]string{">=", ">", "<=", "<", "==", "!="}, t.op) {
			return term{}, fmt.Errorf("%q: amount takes >=, >, <=, <, == or !=", s)
		}
		n, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			return term{}, fmt.Errorf("%q: amount compares with an integer of minor units", s)
		}
		t.num = n
		return t, nil
	}
	switch t.op {
	case "in":
		if !strings.HasPrefix(rest, "(") || !strings.HasSuffix(rest, ")") {
			return term{}, fmt.Errorf("%q: in takes a list such as (declined, failed)", s)
		}
		for _, v := range strings.Split(rest[1:len(rest)-1], ",") {
			if v = strings.TrimSpace(v); v != "" {
				t.values = append(t.values, v)
			}
		}
		if len(t.values) == 0 {
			return term{}, fmt.Errorf("%q: an empty list", s)
		}
	case "==", "!=":
		t.values = []string{rest}
	default:
		return term{}, fmt.Errorf("%q: %s takes in, == or !=", s, t.field)
	}
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
	if t.field == "amount" {
		a := tx.Amount
		switch t.op {
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
		case t.field == "amount":
			parts[i] = fmt.Sprintf("amount %s %d", t.op, t.num)
		case t.op == "in":
			parts[i] = fmt.Sprintf("%s in (%s)", t.field, strings.Join(t.values, ", "))
		default:
			parts[i] = fmt.Sprintf("%s %s %s", t.field, t.op, t.values[0])
		}
	}
	return strings.Join(parts, " and ")
}
