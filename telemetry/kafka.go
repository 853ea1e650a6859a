package telemetry

import (
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/propagation"
)

// KafkaHeaders adapts a kafka-go header slice to propagation.TextMapCarrier,
// so trace context can be injected into produced messages and extracted from
// consumed ones:
//
//	prop.Inject(ctx, telemetry.KafkaHeaders{Headers: &msg.Headers})
//	ctx = prop.Extract(ctx, telemetry.KafkaHeaders{Headers: &msg.Headers})
//
// Keys are compared exactly (Kafka header keys are case-sensitive; the W3C
// propagators use lower-case keys). A nil Headers pointer reads as empty and
// ignores Set.
type KafkaHeaders struct {
	Headers *[]kafka.Header
}

var _ propagation.TextMapCarrier = KafkaHeaders{}

// Get returns the value of the first header named key, or "".
func (c KafkaHeaders) Get(key string) string {
	if c.Headers == nil {
		return ""
	}
	for _, h := range *c.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Set replaces the headers named key with one header key=value (in place of
// the first of them), or appends it. It writes a new slice to *Headers and
// never modifies the old backing array, which may be shared with the message
// the headers were copied from.
func (c KafkaHeaders) Set(key, value string) {
	if c.Headers == nil {
		return
	}
	hs := *c.Headers
	out := make([]kafka.Header, 0, len(hs)+1)
	found := false
	for _, h := range hs {
		if h.Key != key {
			out = append(out, h)
			continue
		}
		if !found {
			found = true
			out = append(out, kafka.Header{Key: key, Value: []byte(value)})
		}
	}
	if !found {
		out = append(out, kafka.Header{Key: key, Value: []byte(value)})
	}
	*c.Headers = out
}

// Keys returns the header keys, in order, each once.
func (c KafkaHeaders) Keys() []string {
	if c.Headers == nil {
		return nil
	}
	keys := make([]string, 0, len(*c.Headers))
	seen := make(map[string]bool, len(*c.Headers))
	for _, h := range *c.Headers {
		if !seen[h.Key] {
			seen[h.Key] = true
			keys = append(keys, h.Key)
		}
	}
	return keys
}
