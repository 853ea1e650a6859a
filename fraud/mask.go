package fraud

import (
	"unicode/utf16"
	"unicode/utf8"
)

// MaskPANs returns a copy of b in which every digit of each run holding a
// card number (by the rule of LooksLikePAN, with the exception of
// IDLooksLikePAN: a run inside a lower-case hex digest, letters on both
// sides, is left, so that a dead-lettered record keeps such an id) is
// replaced by '*', and
// found = true; or b itself and false when there is none. b may be any
// bytes: invalid UTF-8 counts as a separator, and a multi-byte digit
// becomes a single '*'.
//
// As b is often JSON, the rule is applied twice: to b as it is, and to b
// with its escapes read, so that "\u0034\u0031..." is a run of digits (an
// escape that is a digit becomes a single '*'). Masking the whole run, not
// only the card number in it, over-masks numbers that merely sit next to
// one, but never leaves digits that could form another. Both readings are
// repeated until neither finds anything, so what one masks cannot reveal a
// card number to the other.
func MaskPANs(b []byte) (masked []byte, found bool) {
	masked = b
	for {
		pass := false
		for _, escapes := range [...]bool{false, true} {
			if m, ok := maskRuns(masked, escapes); ok {
				masked, pass, found = m, true, true
			}
		}
		// Each pass that masks leaves fewer digits, so this ends.
		if !pass {
			return masked, found
		}
	}
}

// maskRuns masks the runs of b that hold a card number, reading JSON
// escapes as the runes they stand for when escapes is set. It returns a new
// slice when it masked anything, and b otherwise.
func maskRuns(b []byte, escapes bool) ([]byte, bool) {
	var (
		f        panFinder
		digits   [maxRuneDigits]byte
		out      []byte // nil until the first mask
		done     int    // b[:done] is in out
		from, to = -1, -1
	)
	// endRun masks b[from:to], from the run's first digit to its last,
	// when the run holds a card number. It holds no letter, so a digit
	// there is one of the run's.
	endRun := func() {
		f.endRun()
		if f.found && insideDigest(b, from, to) {
			f.clear()
		}
		if f.found {
			out = append(out, b[done:from]...)
			for i := from; i < to; {
				r, size := nextRune(b, i, escapes)
				if len(runeDigits(r, &digits)) > 0 {
					out = append(out, '*')
				} else {
					out = append(out, b[i:i+size]...)
				}
				i += size
			}
			done = to
		}
		f.clear()
		from, to = -1, -1
	}
	for i := 0; i < len(b); {
		r, size := nextRune(b, i, escapes)
		switch {
		case len(runeDigits(r, &digits)) > 0:
			if from < 0 {
				from = i
			}
			to = i + size
			f.add(r)
		case isLetter(r):
			endRun()
		default:
			f.add(r)
		}
		i += size
	}
	endRun()
	if out == nil {
		return b, false
	}
	return append(out, b[done:]...), true
}

// insideDigest reports whether b[from:to] is a digit run with letters on
// both sides inside a lower-case hex digest (see IDLooksLikePAN).
func insideDigest(b []byte, from, to int) bool {
	alnum := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	lo, hi := from, to
	for lo > 0 && alnum(b[lo-1]) {
		lo--
	}
	for hi < len(b) && alnum(b[hi]) {
		hi++
	}
	return lo < from && hi > to && isLowerHexDigest(string(b[lo:hi]))
}

// nextRune decodes the rune at b[i:] and its length in bytes: invalid
// UTF-8 is utf8.RuneError, a separator. With escapes, a JSON escape is one
// rune: \uXXXX the rune it stands for (a surrogate pair of escapes the rune
// they encode, a lone surrogate utf8.RuneError), and \n, \" and the like the
// character they stand for.
func nextRune(b []byte, i int, escapes bool) (rune, int) {
	if !escapes || b[i] != '\\' || i+1 == len(b) {
		return utf8.DecodeRune(b[i:])
	}
	switch b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return '\\', 2 // every one of these is a separator
	case 'u':
		r, ok := hex4(b[i+2:])
		if !ok {
			return '\\', 1
		}
		if utf16.IsSurrogate(r) {
			if len(b) >= i+12 && b[i+6] == '\\' && b[i+7] == 'u' {
				if r2, ok := hex4(b[i+8:]); ok {
					if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
						return pair, 12
					}
				}
			}
			return utf8.RuneError, 6
		}
		return r, 6
	}
	return '\\', 1
}

// hex4 decodes the four hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// MaskString is MaskPANs for a string: s with every card number masked.
func MaskString(s string) string {
	m, found := MaskPANs([]byte(s))
	if !found {
		return s
	}
	return string(m)
}
