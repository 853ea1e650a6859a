package stream_test

import (
	"testing"

	"github.com/fraudscore/scorer/stream"
)

func TestMemberMetadata(t *testing.T) {
	m := stream.Member{URL: "http://10.0.0.7:8080"}
	got, err := stream.DecodeMember(m.Encode())
	if err != nil || got != m {
		t.Fatalf("DecodeMember(Encode(%+v)) = %+v, %v", m, got, err)
	}
	if got, err := stream.DecodeMember(nil); err != nil || got != (stream.Member{}) {
		t.Errorf("DecodeMember(nil) = %+v, %v; want a zero Member: a member that advertises nothing", got, err)
	}
	for _, b := range []string{`{"v":2,"url":"http://x"}`, `not json`, `{"url":"http://x"}`} {
		if _, err := stream.DecodeMember([]byte(b)); err == nil {
			t.Errorf("DecodeMember(%s) succeeded, want it refused", b)
		}
	}
}
