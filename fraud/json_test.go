package fraud_test

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/fraudscore/scorer/fraud"
)

// plainResult is fraud.Result without the custom marshaler: what
// encoding/json writes for it is what AppendJSON must write. Features are a
// map, which encoding/json writes sorted by key.
type plainResult struct {
	TransactionID string             `json:"transaction_id"`
	Score         float64            `json:"score"`
	Decision      fraud.Decision     `json:"decision"`
	Reasons       []fraud.Reason     `json:"reasons"`
	Features      map[string]float64 `json:"features"`
	ModelVersion  string             `json:"model_version"`
	Degraded      bool               `json:"degraded"`
	Duplicate     bool               `json:"duplicate"`
	Late          bool               `json:"late"`
	AlertID       string             `json:"alert_id,omitempty"`
}

func plain(r fraud.Result) plainResult {
	p := plainResult{
		TransactionID: r.TransactionID, Score: r.Score, Decision: r.Decision,
		Reasons: r.Reasons, Features: map[string]float64{}, ModelVersion: r.ModelVersion,
		Degraded: r.Degraded, Duplicate: r.Duplicate, Late: r.Late, AlertID: r.AlertID,
	}
	if p.Reasons == nil {
		p.Reasons = []fraud.Reason{}
	}
	for _, f := range r.Features {
		p.Features[f.Name] = f.Value
	}
	return p
}

// Features in these results are sorted by name, as encoding/json writes maps
// and as Features.UnmarshalJSON returns them.
var testResults = []struct {
	name string
	give fraud.Result
}{
	{name: "decline with reasons, features and an alert", give: fraud.Result{
		TransactionID: "tx_0001",
		Score:         0.9731,
		Decision:      fraud.Decline,
		Reasons: []fraud.Reason{
			{Code: "CARD_VELOCITY_1M", Message: "7 transactions in 1 minute"},
			{Code: "HIGH_AMOUNT", Message: "amount > 10000 & \"unusual\" <for card>"},
		},
		Features: fraud.Features{
			{Name: "card_amount_sum_1h", Value: 1234567.5},
			{Name: "card_seconds_since_prev", Value: -1},
			{Name: "card_tx_count_1m", Value: 7},
			{Name: "tiny", Value: 1.25e-7},
		},
		ModelVersion: "gbm-2026-03-01",
		Degraded:     true,
		Late:         true,
		AlertID:      fraud.AlertID("tx_0001"),
	}},
	{name: "approve without an alert", give: fraud.Result{
		TransactionID: "tx_0002",
		Score:         0.00001234,
		Decision:      fraud.Approve,
		Reasons:       []fraud.Reason{},
		Features:      fraud.Features{{Name: "card_tx_count_1m", Value: 1}},
		ModelVersion:  "rules-v1",
		Duplicate:     true,
	}},
	{name: "awkward strings", give: fraud.Result{
		TransactionID: "tx\"\\/\u2028\u2029",
		Score:         1,
		Decision:      fraud.Review,
		Reasons:       []fraud.Reason{{Code: "X", Message: "tab\tnew\nline\r\b\f\x00\x1f <script>&amp; \U0001F4B3 ü"}},
		Features:      fraud.Features{{Name: "a\"b", Value: 0}, {Name: "é", Value: 1e21}},
		ModelVersion:  "m\\v",
		AlertID:       "alert_<1>",
	}},
}

func TestResultAppendJSONRoundTrips(t *testing.T) {
	for _, tt := range testResults {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.give.AppendJSON(nil)
			var got fraud.Result
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("json.Unmarshal(%s): %v", b, err)
			}
			if !reflect.DeepEqual(got, tt.give) {
				t.Errorf("round trip of %s =\n%+v\nwant\n%+v", b, got, tt.give)
			}
		})
	}
}

func TestResultAppendJSONMatchesEncodingJSON(t *testing.T) {
	for _, tt := range testResults {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(plain(tt.give))
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.give.AppendJSON(nil); !bytes.Equal(got, want) {
				t.Errorf("AppendJSON =\n%s\nwant\n%s", got, want)
			}
			// json.Marshal goes through MarshalJSON and checks its output.
			if got, err := json.Marshal(tt.give); err != nil || !bytes.Equal(got, want) {
				t.Errorf("json.Marshal(Result) = %s, %v; want %s", got, err, want)
			}
		})
	}
}

func TestResultAppendJSONFields(t *testing.T) {
	tests := []struct {
		name        string
		give        fraud.Result
		wantAlertID bool
		wantReasons string
		wantFeats   string
	}{
		{name: "alert_id is present when set", give: fraud.Result{AlertID: "alert_1"}, wantAlertID: true, wantReasons: "[]", wantFeats: "{}"},
		{name: "alert_id is absent when empty", give: fraud.Result{}, wantReasons: "[]", wantFeats: "{}"},
		{name: "nil reasons and features are empty, not null", give: fraud.Result{Reasons: nil, Features: nil}, wantReasons: "[]", wantFeats: "{}"},
		{name: "features keep their order", give: fraud.Result{Features: fraud.Features{{Name: "z", Value: 1}, {Name: "a", Value: 2}}}, wantReasons: "[]", wantFeats: `{"z":1,"a":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.give.AppendJSON([]byte("prefix"))
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatalf("AppendJSON = %s, does not append to its argument", b)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b[len("prefix"):], &m); err != nil {
				t.Fatalf("json.Unmarshal(%s): %v", b, err)
			}
			if _, got := m["alert_id"]; got != tt.wantAlertID {
				t.Errorf("alert_id present = %v, want %v in %s", got, tt.wantAlertID, b)
			}
			if got := string(m["reasons"]); got != tt.wantReasons {
				t.Errorf("reasons = %s, want %s", got, tt.wantReasons)
			}
			if got := string(m["features"]); got != tt.wantFeats {
				t.Errorf("features = %s, want %s", got, tt.wantFeats)
			}
			for _, k := range []string{"transaction_id", "score", "decision", "model_version", "degraded", "duplicate", "late"} {
				if _, ok := m[k]; !ok {
					t.Errorf("field %q missing from %s", k, b)
				}
			}
		})
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		give string
	}{
		{name: "empty", give: ""},
		{name: "plain ASCII", give: "card_tok_9f8e7d"},
		{name: "quotes", give: `say "hi"`},
		{name: "backslashes", give: `C:\path\`},
		{name: "slash is not escaped", give: "a/b"},
		{name: "newline, return and tab", give: "a\nb\rc\td"},
		{name: "backspace and form feed", give: "a\bb\fc"},
		{name: "NUL and other controls", give: "\x00\x01\x1e\x1f"},
		{name: "DEL is not escaped", give: "a\x7fb"},
		{name: "HTML characters", give: "<script>a && b</script>"},
		{name: "line and paragraph separators", give: "a\u2028b\u2029c"},
		{name: "multi-byte UTF-8", give: "é中\U0001F4B3"},
		{name: "invalid byte", give: "a\xffb"},
		{name: "truncated sequence", give: "a\xe2\x82"},
		{name: "encoded surrogate", give: "\xed\xa0\x80"},
		{name: "overlong encoding", give: "\xc0\xaf"},
		{name: "replacement character itself", give: "\ufffd"},
		{name: "everything at once", give: "\"\\\x00\n<>&\u2028\xff\U0001F4B3 end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(tt.give)
			if err != nil {
				t.Fatal(err)
			}
			if got := fraud.AppendString(nil, tt.give); !bytes.Equal(got, want) {
				t.Errorf("AppendString(%q) = %s, want %s", tt.give, got, want)
			}
		})
	}
	t.Run("every single byte", func(t *testing.T) {
		for c := range 256 {
			s := string([]byte{'x', byte(c), 'y'})
			want, _ := json.Marshal(s)
			if got := fraud.AppendString(nil, s); !bytes.Equal(got, want) {
				t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
			}
		}
	})
}

func TestAppendNumber(t *testing.T) {
	tests := []struct {
		name string
		give float64
		want string
	}{
		{name: "zero", give: 0, want: "0"},
		{name: "integer has no fraction", give: 3, want: "3"},
		{name: "negative integer", give: -42, want: "-42"},
		{name: "large integer", give: 123456789012, want: "123456789012"},
		{name: "integer at 1e15", give: 1e15, want: "1000000000000000"},
		{name: "integer at 1e20", give: 1e20, want: "100000000000000000000"},
		{name: "1e21 has an exponent", give: 1e21, want: "1e+21"},
		{name: "half", give: 0.5, want: "0.5"},
		{name: "shortest round-trip digits", give: 0.30000000000000004, want: "0.30000000000000004"},
		{name: "small fraction without exponent", give: 0.00001234, want: "0.00001234"},
		{name: "1e-6 without exponent", give: 1e-6, want: "0.000001"},
		{name: "1e-7 with a short exponent", give: 1e-7, want: "1e-7"},
		{name: "tiny negative", give: -2.5e-10, want: "-2.5e-10"},
		{name: "large fraction without exponent", give: 1234567.5, want: "1234567.5"},
		{name: "NaN is 0", give: math.NaN(), want: "0"},
		{name: "+Inf is 0", give: math.Inf(1), want: "0"},
		{name: "-Inf is 0", give: math.Inf(-1), want: "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(fraud.AppendNumber(nil, tt.give))
			if got != tt.want {
				t.Errorf("AppendNumber(%v) = %s, want %s", tt.give, got, tt.want)
			}
			if math.IsNaN(tt.give) || math.IsInf(tt.give, 0) {
				return
			}
			if want, _ := json.Marshal(tt.give); got != string(want) {
				t.Errorf("AppendNumber(%v) = %s, encoding/json writes %s", tt.give, got, want)
			}
			var back float64
			if err := json.Unmarshal([]byte(got), &back); err != nil || back != tt.give {
				t.Errorf("decoding %s = %v, %v; want %v", got, back, err, tt.give)
			}
		})
	}
}

func TestFeaturesJSON(t *testing.T) {
	give := fraud.Features{{Name: "b", Value: 2}, {Name: "a", Value: 0.25}}
	b, err := json.Marshal(give)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"b":2,"a":0.25}`; got != want {
		t.Errorf("json.Marshal(Features) = %s, want %s", got, want)
	}
	var got fraud.Features
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := fraud.Features{{Name: "a", Value: 0.25}, {Name: "b", Value: 2}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("json.Unmarshal(%s) = %v, want %v (sorted by name)", b, got, want)
	}
	if v, ok := got.Get("b"); !ok || v != 2 {
		t.Errorf("Get(b) = %v, %v; want 2, true", v, ok)
	}
	if _, ok := got.Get("missing"); ok {
		t.Error("Get(missing) reported present")
	}
	if b, _ := json.Marshal(fraud.Features(nil)); string(b) != "{}" {
		t.Errorf("json.Marshal(nil Features) = %s, want {}", b)
	}
}
