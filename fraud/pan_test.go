package fraud_test

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf16"

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

func TestMaskPANs(t *testing.T) {
	tests := []struct {
		name string
		give string
		want string // the masked bytes; give itself when nothing is found
	}{
		{name: "nothing to mask", give: `{"card_id":"card_7f3a9c","amount":100,"event_time":"2026-03-01T11:00:00Z"}`, want: `{"card_id":"card_7f3a9c","amount":100,"event_time":"2026-03-01T11:00:00Z"}`},
		{name: "empty", give: "", want: ""},
		{name: "a bare card number", give: "4111111111111111", want: "****************"},
		{name: "a JSON value", give: `{"card_id":"4111111111111111","amount":100}`, want: `{"card_id":"****************","amount":100}`},
		{name: "spaces, dots and dashes are kept", give: "4111 1111.1111-1111", want: "**** ****.****-****"},
		{name: "no-break spaces are kept", give: "4111\u00a01111\u00a01111\u00a01111", want: "****\u00a0****\u00a0****\u00a0****"},
		{name: "a prefix", give: `{"note":"pan:4111111111111111"}`, want: `{"note":"pan:****************"}`},
		{name: "full-width digits become one star each", give: "x４１１１１１１１１１１１１１１１x", want: "x****************x"},
		{name: "full-width digits and ideographic spaces", give: "４１１１\u3000１１１１\u3000１１１１\u3000１１１１", want: "****\u3000****\u3000****\u3000****"},
		{name: "Arabic-Indic digits", give: "٤١١١١١١١١١١١١١١١", want: "****************"},
		{name: "escaped digits become one star each", give: `{"card_id":"\u0034\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031"}`, want: `{"card_id":"****************"}`},
		{name: "escaped and plain digits", give: `"41\u00311111111111111"`, want: `"****************"`},
		{name: "escaped full-width digits", give: `"\uff14\uff11\uff11\uff11111111111111"`, want: `"****************"`},
		{name: "escaped mathematical digits as surrogate pairs", give: `"\ud835\udfd2\ud835\udfcf11111111111111"`, want: `"****************"`},
		{name: "escaped newlines are separators", give: `"4111\n1111\n1111\n1111"`, want: `"****\n****\n****\n****"`},
		{name: "a card number after \\u as the bytes read", give: `"\u4111111111111111"`, want: `"\u****************"`},
		{name: "invalid UTF-8 is a separator", give: "4111\xff1111\xfe1111\xc31111", want: "****\xff****\xfe****\xc3****"},
		{name: "the whole run is masked", give: `[1,4111111111111111,22]`, want: `[*,****************,**]`},
		{name: "two runs, one masked", give: `{"a":"4111111111111111","b":"4111111111111112"}`, want: `{"a":"****************","b":"4111111111111112"}`},
		{name: "two card numbers", give: "card 4111111111111111 and 5500005555555559", want: "card **************** and ****************"},
		{name: "12 digits stay", give: `{"id":"411111111117"}`, want: `{"id":"411111111117"}`},
		{name: "20 digits stay", give: `{"id":"41111111111111111115"}`, want: `{"id":"41111111111111111115"}`},
		{name: "a Luhn-invalid number stays", give: `{"id":"4111111111111112"}`, want: `{"id":"4111111111111112"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			give := []byte(tt.give)
			got, found := fraud.MaskPANs(give)
			if string(got) != tt.want {
				t.Errorf("MaskPANs(%q) = %q, want %q", tt.give, got, tt.want)
			}
			if want := tt.want != tt.give; found != want {
				t.Errorf("MaskPANs(%q) found = %v, want %v", tt.give, found, want)
			}
			if string(give) != tt.give {
				t.Errorf("MaskPANs changed its input to %q", give)
			}
			if !found && len(give) > 0 && &got[0] != &give[0] {
				t.Errorf("MaskPANs(%q) copied an input it did not mask", tt.give)
			}
		})
	}
}

// refUnescape reads the JSON escapes of b, as a JSON decoder would inside
// a string: \uXXXX (surrogate pairs joined, lone surrogates as U+FFFD), and
// a separator for the others.
func refUnescape(b []byte) string {
	var out strings.Builder
	var units []uint16
	flush := func() {
		out.WriteString(string(utf16.Decode(units)))
		units = units[:0]
	}
	for i := 0; i < len(b); {
		if b[i] == '\\' && i+6 <= len(b) && b[i+1] == 'u' {
			if n, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16); err == nil && !strings.ContainsAny(string(b[i+2:i+6]), "+-_") {
				units = append(units, uint16(n))
				i += 6
				continue
			}
		}
		flush()
		if b[i] == '\\' && i+1 < len(b) && strings.IndexByte(`"\/bfnrt`, b[i+1]) >= 0 {
			out.WriteByte(' ')
			i += 2
			continue
		}
		out.WriteByte(b[i])
		i++
	}
	flush()
	return out.String()
}

// Random text made mostly of digits, in every spelling MaskPANs reads, is
// left without a card number. The fuzz target finds such text rarely, as
// most of its inputs hold few digits.
func TestMaskPANsLeavesNoCardNumber(t *testing.T) {
	digits := []string{
		"0", "1", "4", "5", "9", "1", "1", "4", // many ones, as in test card numbers
		"４", "１", "٤", "١", "४", "𝟏", `\u0034`, `\u0031`, `\uff11`, `\ud835\udfcf`,
	}
	separators := []string{" ", "-", ".", "_", ",", "\u00a0", `\n`, `\\`, `\"`, "\xff"}
	letters := []string{"a", "x", "é", "u", `\u0041`, `\u`, `\ud835`}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() string {
		switch n := rng.IntN(100); {
		case n < 75:
			return digits[rng.IntN(len(digits))]
		case n < 97:
			return separators[rng.IntN(len(separators))]
		default:
			return letters[rng.IntN(len(letters))]
		}
	}
	found := 0
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(60) {
			b.WriteString(pick())
		}
		in := []byte(b.String())
		out, ok := fraud.MaskPANs(in)
		if ok {
			found++
		}
		if pan := refPAN(string(out)); pan != "" {
			t.Fatalf("MaskPANs(%q) = %q, which holds the card number %s", in, out, pan)
		}
		if pan := refPAN(refUnescape(out)); pan != "" {
			t.Fatalf("MaskPANs(%q) = %q, which holds the card number %s once unescaped", in, out, pan)
		}
		if _, again := fraud.MaskPANs(out); again {
			t.Fatalf("MaskPANs(%q) = %q, in which MaskPANs masks again", in, out)
		}
	}
	if found < 1000 {
		t.Errorf("card numbers found in %d of 20000 texts, want the texts to hold more", found)
	}
}

func TestTokenize(t *testing.T) {
	for _, tt := range []struct{ give, want string }{
		{"card_7f3a9c", "card_7f3a9c"},
		{"tx-123", "tx-123"},
	} {
		if got := fraud.Tokenize(tt.give); got != tt.want {
			t.Errorf("Tokenize(%q) = %q, want it unchanged", tt.give, got)
		}
	}
	// The Sparkov sample's card ids are "card_" and a Luhn-valid number.
	for _, give := range []string{"card_2703186189652095", "4111111111111111", "pan:4111 1111 1111 1111"} {
		got := fraud.Tokenize(give)
		if !strings.HasPrefix(got, "tok_") || len(got) != 28 || fraud.LooksLikePAN(got) || strings.ContainsAny(got[4:], "0123456789") {
			t.Errorf("Tokenize(%q) = %q, want tok_ and 24 letters", give, got)
		}
		if fraud.Tokenize(give) != got {
			t.Errorf("Tokenize(%q) is not stable", give)
		}
	}
	if fraud.Tokenize("card_2703186189652095") == fraud.Tokenize("card_4111111111111111") {
		t.Error("two card numbers gave one token")
	}
}

// TestLooksLikePANReadsOtherNumberForms: digits written as superscripts,
// subscripts or circled numbers (category No, read through their
// compatibility form), and numbers split by invisible letters (the Hangul
// fillers render as blank space), are card numbers too, and are masked.
func TestLooksLikePANReadsOtherNumberForms(t *testing.T) {
	for _, give := range []string{
		"⁴¹¹¹¹¹¹¹¹¹¹¹¹¹¹¹",
		"④①①①①①①①①①①①①①①①",
		"₄₁₁₁₁₁₁₁₁₁₁₁₁₁₁₁",
		"⑷⑴⑴⑴⑴⑴⑴⑴⑴⑴⑴⑴⑴⑴⑴⑴",
		"4111\u00ad1111\u00ad1111\u00ad1111",
		"4111\u115f1111\u115f1111\u115f1111",
		"4111\u31641111\u31641111\u31641111",
	} {
		if !fraud.LooksLikePAN(give) {
			t.Errorf("LooksLikePAN(%q) = false", give)
		}
		if msg := fraud.CheckCardID(give); msg == "" {
			t.Errorf("CheckCardID(%q) accepts it", give)
		}
		m, found := fraud.MaskPANs([]byte(give))
		if !found || strings.ContainsAny(string(m), "14¹⁴₁₄①④⑴⑷") {
			t.Errorf("MaskPANs(%q) = %q, %v: want every digit masked", give, m, found)
		}
	}
	for _, give := range []string{"½ off at shop 12", "Ⅻ", "card_⑦"} {
		if fraud.LooksLikePAN(give) {
			t.Errorf("LooksLikePAN(%q) = true", give)
		}
	}
}

// TestHexDigestIDsAreNotCardNumbers: a transaction id that is a lower-case
// hex digest whose inner digit run passes the Luhn check (a real Sparkov
// id) is an id; a card number at either end of it is still found; and
// nowhere but in ids is the exception made, since card data such as EMV
// track 2 is hex-shaped.
func TestHexDigestIDsAreNotCardNumbers(t *testing.T) {
	for _, c := range []struct {
		s    string
		want bool
	}{
		{"79a1f841806fde00d28172958952223d", false},         // its run 28172958952223 passes Luhn
		{"0f1e2d3c79a1f841806fde00d28172958952223d", false}, // SHA-1 length
		{"4111111111111111abcdefabcdefabcd", true},          // a card number glued before hex
		{"abcdefabcdefabcd4111111111111111", true},          // and after
		{"79A1F841806FDE00D28172958952223D", true},          // upper case: no exception
		{"570E4111111111111111D25122011234", true},          // EMV track 2 (tag 57): a card number
		{"x9a1f841806fde00d28172958952223d", true},          // not hex
		{"79a1f841806fde00d28172958952223d0", true},         // 33 characters
		{"79a1f841806fde00-d28172958952223d", true},         // a dash
	} {
		if got := fraud.IDLooksLikePAN(c.s); got != c.want {
			t.Errorf("IDLooksLikePAN(%q) = %v, want %v", c.s, got, c.want)
		}
		if !fraud.LooksLikePAN(c.s) {
			t.Errorf("LooksLikePAN(%q) = false: outside ids the strict rule holds", c.s)
		}
	}
	if msg := fraud.CheckTransactionID("79a1f841806fde00d28172958952223d"); msg != "" {
		t.Errorf("a digest transaction_id refused: %s", msg)
	}
	if msg := fraud.CheckCardID("card_79a1f841806fde00d28172958952223d"); msg == "" {
		t.Error("a card_id with a Luhn-valid run accepted")
	}
}

// TestMaskKeepsDigestIDs: a dead-lettered record keeps a digest
// transaction_id as it is (a replay must not re-drive it under another
// id), while a card number beside it is masked.
func TestMaskKeepsDigestIDs(t *testing.T) {
	in := []byte(`{"transaction_id":"79a1f841806fde00d28172958952223d","card_id":"4111111111111111","x":"570E4111111111111111D25122011234"}`)
	got, found := fraud.MaskPANs(in)
	want := `{"transaction_id":"79a1f841806fde00d28172958952223d","card_id":"****************","x":"570E****************D25122011234"}`
	if !found || string(got) != want {
		t.Errorf("MaskPANs = %s, %v\nwant         %s", got, found, want)
	}
}

// An other number (category No) is a group of its own: a footnote mark
// after a card number does not hide it, and a card number in superscripts
// or with a circled last digit is still found.
func TestOtherNumbersAreGroupsOfTheirOwn(t *testing.T) {
	for _, s := range []string{"4111111111111111²", "pan 4111111111111111¹⁾", "⁴¹¹¹¹¹¹¹¹¹¹¹¹¹¹¹", "411111111111111①"} {
		if !fraud.LooksLikePAN(s) {
			t.Errorf("LooksLikePAN(%q) = false, want true", s)
		}
		if out, found := fraud.MaskPANs([]byte(s)); !found || fraud.LooksLikePAN(string(out)) {
			t.Errorf("MaskPANs(%q) = %q, %v; want it masked", s, out, found)
		}
	}
	// And it makes no card number of digits that hold none: 17 digits
	// with no Luhn-valid 13-19 digit group sequence.
	if s := "4111111111111112²"; fraud.LooksLikePAN(s) {
		t.Errorf("LooksLikePAN(%q) = true, want false", s)
	}
}
