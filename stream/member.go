package stream

import (
	"encoding/json"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// Member is what an instance tells the rest of its consumer group about
// itself, in the group's member metadata (Kafka Streams' application.server):
// where its HTTP API answers, so that a request for a card can be sent to
// the instance that owns the card's partition. Decode it from
// kafkaconn.Member.UserData.
type Member struct {
	// URL is the instance's advertised HTTP base URL, "" when not given.
	URL string `json:"url,omitempty"`
}

// memberVersion is the version of the encoding; a reader refuses others.
const memberVersion = 1

type memberWire struct {
	V int `json:"v"`
	Member
}

// Encode returns the member metadata bytes.
func (m Member) Encode() []byte {
	b, _ := json.Marshal(memberWire{V: memberVersion, Member: m}) // cannot fail: strings only
	return b
}

// DecodeMember reads member metadata written by Encode. Empty metadata (a
// member that advertises nothing, or not a scorer) is a zero Member.
func DecodeMember(b []byte) (Member, error) {
	if len(b) == 0 {
		return Member{}, nil
	}
	var w memberWire
	if err := json.Unmarshal(b, &w); err != nil {
		return Member{}, fmt.Errorf("member metadata: %w", err)
	}
	if w.V != memberVersion {
		return Member{}, fmt.Errorf("member metadata version %d, want %d", w.V, memberVersion)
	}
	return w.Member, nil
}

// GroupBalancers are kafka-go's default group balancers (range, then round
// robin) carrying m in the member metadata of the join request.
func GroupBalancers(m Member) []kafka.GroupBalancer {
	ud := m.Encode()
	return []kafka.GroupBalancer{
		advertising{kafka.RangeGroupBalancer{}, ud},
		advertising{kafka.RoundRobinGroupBalancer{}, ud},
	}
}

// advertising is a group balancer that sends userData when it joins.
type advertising struct {
	kafka.GroupBalancer
	userData []byte
}

func (a advertising) UserData() ([]byte, error) { return a.userData, nil }
