package fraud

import (
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends r as JSON to b. It writes the same document as
// encoding/json would, without reflection, because a result is encoded for
// every scored transaction.
func (r *Result) AppendJSON(b []byte) []byte {
	b = append(b, `{"transaction_id":`...)
	b = AppendString(b, r.TransactionID)
	b = append(b, `,"score":`...)
	b = AppendNumber(b, r.Score)
	b = append(b, `,"decision":`...)
	b = AppendString(b, string(r.Decision))
	b = append(b, `,"reasons":[`...)
	for i, x := range r.Reasons {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"code":`...)
		b = AppendString(b, x.Code)
		b = append(b, `,"message":`...)
		b = AppendString(b, x.Message)
		b = append(b, '}')
	}
	b = append(b, `],"features":`...)
	b = r.Features.AppendJSON(b)
	b = append(b, `,"model_version":`...)
	b = AppendString(b, r.ModelVersion)
	b = append(b, `,"degraded":`...)
	b = strconv.AppendBool(b, r.Degraded)
	b = append(b, `,"duplicate":`...)
	b = strconv.AppendBool(b, r.Duplicate)
	b = append(b, `,"late":`...)
	b = strconv.AppendBool(b, r.Late)
	if r.AlertID != "" {
		b = append(b, `,"alert_id":`...)
		b = AppendString(b, r.AlertID)
	}
	return append(b, '}')
}

// MarshalJSON encodes r with AppendJSON.
func (r Result) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil), nil }

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Control characters are escaped
// and invalid UTF-8 is replaced by U+FFFD, as encoding/json does.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
