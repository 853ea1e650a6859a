package loadtest

import (
	"strings"
	"testing"
)

func TestSampleIsTheBodyOnOneLine(t *testing.T) {
	// What sample wrote when it took a string: the same, read from bytes.
	fields := func(b []byte) string {
		s := strings.Join(strings.Fields(string(b)), " ")
		if len(s) > 200 {
			s = s[:200] + "..."
		}
		return s
	}
	for _, in := range []string{"", " ", "a", "  a  b\t\nc  ", "\u00a0x\u0085y\u2028z\u3000", "bad\xff \xc3 utf8", "\x00\x01 \x7f",
		`{"title": "overloaded",` + "\n\t" + `"status": 503}`, strings.Repeat("ab ", 100), strings.Repeat("é", 150),
		strings.Repeat(" ", 300) + "x", strings.Repeat("x", 200), strings.Repeat("x", 201), strings.Repeat("x", 199) + " y",
		strings.Repeat("x", 200) + " ", strings.Repeat("x", 199) + "é", "\v\f\r" + strings.Repeat("漢 ", 80)} {
		if got, want := sample([]byte(in)), fields([]byte(in)); got != want {
			t.Errorf("sample(%q) = %q, want %q", in, got, want)
		}
	}
}
