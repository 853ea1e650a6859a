package fraud_test

import (
	"strings"
	"testing"
	"unicode"

	"golang.org/x/text/unicode/runenames"

	"github.com/fraudscore/scorer/fraud"
)

// The reference check below is written independently of the package, and
// more simply: a run between letters (or the ends) whose decimal digits,
// all separators dropped, are 13 to 19 and pass the Luhn check. The
// package finds more (card numbers among several groups of a longer run),
// never less, so "the reference finds nothing" is what tests can ask of
// accepted or masked text.

// digitNames maps the last word of a Unicode digit's name to its value.
var digitNames = map[string]int{
	"ZERO": 0, "ONE": 1, "TWO": 2, "THREE": 3, "FOUR": 4,
	"FIVE": 5, "SIX": 6, "SEVEN": 7, "EIGHT": 8, "NINE": 9,
}

// refDigit returns the value of a decimal digit (category Nd) as its
// Unicode name says ("FULLWIDTH DIGIT FOUR"), or false.
func refDigit(r rune) (int, bool) {
	if !unicode.IsDigit(r) {
		return 0, false
	}
	if '0' <= r && r <= '9' {
		return int(r - '0'), true
	}
	words := strings.Fields(runenames.Name(r))
	if len(words) == 0 {
		return 0, false
	}
	v, ok := digitNames[words[len(words)-1]]
	return v, ok
}

// refLuhn is the Luhn check over digits, the check digit last.
func refLuhn(digits []int) bool {
	sum := 0
	for i, d := range digits {
		if (len(digits)-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// refPAN returns a card number held by s under the reference rule, as
// ASCII digits, or "".
func refPAN(s string) string {
	for _, run := range strings.FieldsFunc(s, unicode.IsLetter) {
		var digits []int
		for _, r := range run {
			if v, ok := refDigit(r); ok {
				digits = append(digits, v)
			}
		}
		if len(digits) >= 13 && len(digits) <= 19 && refLuhn(digits) {
			var b strings.Builder
			for _, d := range digits {
				b.WriteByte(byte('0' + d))
			}
			return b.String()
		}
	}
	return ""
}

// luhnDigit returns the check digit that makes prefix Luhn-valid.
func luhnDigit(prefix []int) int {
	for d := range 10 {
		if refLuhn(append(prefix[:len(prefix):len(prefix)], d)) {
			return d
		}
	}
	panic("unreachable")
}

// Every Unicode decimal digit counts as the digit its name says: for each,
// a 16-digit number ending in it is a card number exactly when its value
// is the check digit.
func TestLooksLikePANReadsEveryDecimalDigit(t *testing.T) {
	var prefixes [10]string // prefixes[v]: 15 ASCII digits whose check digit is v
	for last := range 10 {
		p := []int{4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, last}
		var b strings.Builder
		for _, d := range p {
			b.WriteByte(byte('0' + d))
		}
		prefixes[luhnDigit(p)] = b.String()
	}
	for v, p := range prefixes {
		if p == "" {
			t.Fatalf("no prefix with check digit %d", v)
		}
	}

	n := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !unicode.Is(unicode.Nd, r) {
			continue
		}
		n++
		v, ok := refDigit(r)
		if !ok {
			t.Errorf("%U %s: no digit value in its name", r, runenames.Name(r))
			continue
		}
		if !fraud.LooksLikePAN(prefixes[v] + string(r)) {
			t.Errorf("%U %s: not read as %d", r, runenames.Name(r), v)
		}
		if other := (v + 1) % 10; fraud.LooksLikePAN(prefixes[other] + string(r)) {
			t.Errorf("%U %s: read as %d, want %d", r, runenames.Name(r), other, v)
		}
	}
	if n < 600 {
		t.Errorf("%d decimal digits in unicode.Nd, want the 600 and more of Unicode 15", n)
	}
}

// The package's rule finds whatever the reference rule finds.
func TestLooksLikePANAgreesWithTheReference(t *testing.T) {
	for _, s := range []string{
		"4111111111111111", "x4111 1111 1111 1111y", "４１１１１１１１１１１１１１１１", "٤١١١١١١١١١١١١١١١",
		"4111111111111112", "41111111111111111115", "12 34", "", "card_7f3a9c", "\xff4111111111111111\xff",
	} {
		if ref := refPAN(s) != ""; ref && !fraud.LooksLikePAN(s) {
			t.Errorf("LooksLikePAN(%q) = false, but the reference finds a card number", s)
		}
	}
}
