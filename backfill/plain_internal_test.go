package backfill

import "testing"

func TestPlainStringEveryByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 17; pos++ {
			b := []byte(`"abcdefghijklmnopq"`)
			if c == '"' {
				continue
			}
			b[1+pos] = byte(c)
			got := plainString(b, 1)
			want := len(b) - 1
			if c < 0x20 || c > 0x7e || c == '\\' {
				want = -1
			}
			if got != want {
				t.Fatalf("byte %#x at %d: %d, want %d", c, pos, got, want)
			}
		}
	}
}
