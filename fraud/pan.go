package fraud

import (
	"crypto/sha256"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Card numbers (PANs) must never reach storage, logs or the dead-letter
// topic, however a client spells them. The rule, shared by validation and
// masking:
//
//   - Text is read as letters, digits and separators. A digit is any Unicode
//     decimal digit (category Nd: ASCII, full-width, Arabic-Indic,
//     Devanagari, mathematical...), read as its value. A separator is any
//     rune that is neither a letter nor a digit: spaces of every kind, dots,
//     dashes, underscores, colons, invalid UTF-8. Other numbers (category
//     No: ², ½, ⑫) are read both ways: as the digits of their compatibility
//     form, each a group of its own, and as separators; a card number in
//     either reading counts. So "4111111111111111²" (a footnote mark) and
//     "4111½111111111111" still hold the card number.
//   - Letters split the text into runs; separators split a run into groups.
//     "pan:4111 1111-1111.1111x" is one run of four groups, between the
//     letters "pan" and "x".
//   - A run holds a card number when consecutive groups of it hold 13 to 19
//     digits in all that pass the Luhn check. So a 20-digit numeric id is
//     no card number, but two card numbers joined by a comma are found.
//   - One exception, for transaction ids only (IDLooksLikePAN): in an id
//     that is wholly 32, 40 or 64 lower-case hex digits (MD5, SHA-1 and
//     SHA-256 in hex, a UUID without dashes), a digit run with letters on
//     both sides is part of the digest. About one digest in 500 has such a
//     run of 13 or more digits that passes the Luhn check (2,251 of the
//     Sparkov log's 1.24M transaction ids were refused as card numbers).
//     The first and last runs, which a card number glued to a digest would
//     be, are still read; and nowhere else is the exception made, since
//     card data such as EMV track 2 ("4111...1111D2512...") is hex-shaped.

// Card numbers have 13 to 19 digits (ISO/IEC 7812).
const (
	minPAN = 13
	maxPAN = 19
)

// LooksLikePAN reports whether s holds a card number anywhere, by the rule
// above: "4111111111111111", "4111.1111.1111.1111", "pan:4111111111111111"
// and the same in full-width digits all do.
func LooksLikePAN(s string) bool {
	var f panFinder
	for _, r := range s {
		f.add(r)
		if f.found {
			return true
		}
	}
	f.endRun()
	return f.found
}

// IDLooksLikePAN is LooksLikePAN for a transaction_id, with the digest
// exception of the rule above.
func IDLooksLikePAN(s string) bool {
	if !isLowerHexDigest(s) {
		return LooksLikePAN(s)
	}
	first := strings.IndexFunc(s, isHexLetter)
	last := strings.LastIndexFunc(s, isHexLetter)
	return LooksLikePAN(s[:first]) || LooksLikePAN(s[last+1:])
}

func isHexLetter(r rune) bool { return r >= 'a' && r <= 'f' }

// isLowerHexDigest reports whether s is 32, 40 or 64 lower-case hex
// digits with at least one letter.
func isLowerHexDigest(s string) bool {
	if len(s) != 32 && len(s) != 40 && len(s) != 64 {
		return false
	}
	letter := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'f':
			letter = true
		default:
			return false
		}
	}
	return letter
}

// panFinder applies the rule to runes fed one at a time, keeping only what
// a card number ending at the current digit could use: it never allocates.
// An other number (², ½, ⑫) is read two ways, both of which must hold no
// card number: as its digits, a group of its own, and as a separator. A
// footnote mark after a card number, or a ½ slipped into one, must not hide
// it by adding digits to its run.
type panFinder struct {
	found   bool // a card number was found in this run, either way
	with    groupFinder
	without groupFinder
	// split says the run has had an other number: until then the two
	// readings are the same, and only with is fed.
	split bool
}

// add feeds the next rune.
func (f *panFinder) add(r rune) {
	var buf [maxRuneDigits]byte
	var ds []byte
	if '0' <= r && r <= '9' { // the common case, without a lookup
		buf[0] = byte(r - '0')
		ds = buf[:1]
	} else {
		ds = runeDigits(r, &buf)
	}
	switch {
	case len(ds) > 0 && (r <= '9' || digitValue(r) >= 0):
		f.with.digit(ds[0])
		if f.split {
			f.without.digit(ds[0])
		}
	case len(ds) > 0:
		if !f.split {
			f.without, f.split = f.with, true
		}
		f.with.endGroup()
		for _, d := range ds {
			f.with.digit(d)
		}
		f.with.endGroup()
		f.without.endGroup()
	case isLetter(r):
		f.endRun()
	default:
		f.with.endGroup()
		if f.split {
			f.without.endGroup()
		}
	}
	f.found = f.found || f.with.found || f.split && f.without.found
}

// endRun ends the run at a letter or at the end of the text. found stays
// set for the caller to read.
func (f *panFinder) endRun() {
	f.with.endRun()
	if f.split {
		f.without.endRun()
		f.found = f.found || f.without.found
	}
	f.found = f.found || f.with.found
	f.split = false
}

// clear forgets a card number found, for the next run.
func (f *panFinder) clear() { f.found, f.with.found, f.without.found = false, false, false }

// groupFinder finds card numbers in one reading of the runes: digits in
// groups.
type groupFinder struct {
	digits  [maxPAN]byte // the latest digits of the run, oldest first
	starts  [maxPAN]bool // whether each of them begins a group
	n       int          // how many of digits are in use
	inGroup bool         // the last rune was a digit
	found   bool         // a card number was found in this run
}

// maxRuneDigits bounds the digits one rune stands for (⑳ is two).
const maxRuneDigits = 4

// runeDigits returns the digits r stands for, in buf: its value for a
// decimal digit (category Nd), and for the other numbers (category No:
// superscripts, subscripts, circled, parenthesized, ...) the digits of
// their compatibility form (NFKC: ⁴ is 4, ⑫ is 12, ⑴ is (1)). Nothing for
// any other rune.
func runeDigits(r rune, buf *[maxRuneDigits]byte) []byte {
	if v := digitValue(r); v >= 0 {
		buf[0] = byte(v)
		return buf[:1]
	}
	if r < utf8.RuneSelf || !unicode.Is(unicode.No, r) {
		return nil
	}
	var in [utf8.UTFMax]byte
	var out [32]byte
	n := 0
	for _, c := range norm.NFKC.Append(out[:0], utf8.AppendRune(in[:0], r)...) {
		if '0' <= c && c <= '9' && n < len(buf) {
			buf[n] = c - '0'
			n++
		}
	}
	return buf[:n]
}

// isLetter reports whether r ends a run of digits: a letter, but not one
// that is invisible (the Hangul fillers are letters that render as blank
// space, a separator to the eye).
func isLetter(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r|0x20 && r|0x20 <= 'z'
	}
	return unicode.IsLetter(r) && !unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r)
}

func (f *groupFinder) digit(v byte) {
	if f.n == maxPAN {
		copy(f.digits[:], f.digits[1:])
		copy(f.starts[:], f.starts[1:])
		f.n--
	}
	f.digits[f.n], f.starts[f.n] = v, !f.inGroup
	f.n++
	f.inGroup = true
}

// endGroup checks every card number made of whole groups that ends with
// the group just ended: the last k digits, for each k from 13 to 19 where
// the k-th digit from the end begins a group.
func (f *groupFinder) endGroup() {
	if !f.inGroup {
		return
	}
	f.inGroup = false
	sum := 0
	for k := 1; k <= f.n; k++ {
		d := int(f.digits[f.n-k])
		if k%2 == 0 { // Luhn: double every second digit from the right
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		if k >= minPAN && f.starts[f.n-k] && sum%10 == 0 {
			f.found = true
		}
	}
}

// endRun ends the run; found stays set.
func (f *groupFinder) endRun() {
	f.endGroup()
	f.n = 0
}

// digitValue returns the value of r if it is a Unicode decimal digit
// (category Nd), or -1. Unicode encodes every set of decimal digits as ten
// consecutive code points from zero to nine, and the ranges of unicode.Nd
// are such sets side by side, so a digit's value is its distance from the
// start of its range, modulo 10 (pinned for every Nd rune by a test against
// the Unicode names).
func digitValue(r rune) int {
	if '0' <= r && r <= '9' {
		return int(r - '0')
	}
	if r < utf8.RuneSelf {
		return -1
	}
	if r <= 0xFFFF {
		rs := unicode.Nd.R16
		i, ok := slices.BinarySearchFunc(rs, uint16(r), func(x unicode.Range16, t uint16) int {
			return rangeCmp(rune(x.Lo), rune(x.Hi), rune(t))
		})
		if !ok {
			return -1
		}
		return int(r-rune(rs[i].Lo)) % 10
	}
	rs := unicode.Nd.R32
	i, ok := slices.BinarySearchFunc(rs, uint32(r), func(x unicode.Range32, t uint32) int {
		return rangeCmp(rune(x.Lo), rune(x.Hi), rune(t))
	})
	if !ok {
		return -1
	}
	return int(r-rune(rs[i].Lo)) % 10
}

// rangeCmp orders the range [lo, hi] against r for a binary search.
func rangeCmp(lo, hi, r rune) int {
	switch {
	case hi < r:
		return -1
	case lo > r:
		return 1
	}
	return 0
}

// Tokenize returns s unchanged when it holds no card number (by the rule
// above), and otherwise a token derived from it: "tok_" and 24 letters
// a-p encoding the first 96 bits of its SHA-256. The token has no digit,
// so it can never look like a card number itself, and the same s always
// gives the same token.
//
// It is for tools that read logs whose identifiers are raw card numbers,
// such as the public Sparkov data (its card ids are "card_" and a
// generator-made, Luhn-valid number): the service refuses those, so the
// replay and batch tools turn them into tokens as they read.
func Tokenize(s string) string {
	if !LooksLikePAN(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	b := make([]byte, 0, 4+24)
	b = append(b, "tok_"...)
	for _, c := range sum[:12] {
		b = append(b, 'a'+c>>4, 'a'+c&0xf)
	}
	return string(b)
}
