package kafkaconn

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/segmentio/kafka-go"
)

// Group is where a consumer group stands on one topic: who owns which
// partition, what the group has committed and how far behind it is.
type Group struct {
	ID    string
	State string // the coordinator's word: Stable, PreparingRebalance, Empty, Dead...
	// Members, by member id.
	Members []Member
	// Partitions of the topic, by id.
	Partitions []GroupPartition
}

// Member is one consumer of a group.
type Member struct {
	ID         string
	ClientID   string
	Host       string
	Partitions []int // of the topic, sorted
	// UserData is what the member put in its join request's metadata
	// (the scorer: stream.Member).
	UserData []byte
}

// GroupPartition is one partition of the topic as the group sees it.
type GroupPartition struct {
	ID int
	// Owner is the member id it is assigned to, "" when none.
	Owner string
	// Committed is the group's committed offset, -1 when none.
	Committed int64
	// End is the offset the next record will get, -1 when unknown.
	End int64
	// Lag is End minus Committed (End when nothing is committed), -1 when
	// End is unknown.
	Lag int64
}

// Group describes consumer group group on topic.
func (c *Cluster) Group(ctx context.Context, group, topic string) (Group, error) {
	g := Group{ID: group}
	cl := c.client(adminTimeout)
	resp, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return g, fmt.Errorf("describe group %s: %w", group, err)
	}
	if len(resp.Groups) != 1 {
		return g, fmt.Errorf("describe group %s: %d groups in the answer", group, len(resp.Groups))
	}
	d := resp.Groups[0]
	if d.Error != nil {
		return g, fmt.Errorf("describe group %s: %w", group, d.Error)
	}
	g.State = d.GroupState
	owner := map[int]string{}
	for _, m := range d.Members {
		mem := Member{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, UserData: m.MemberMetadata.UserData}
		for _, t := range m.MemberAssignments.Topics {
			if t.Topic == topic {
				mem.Partitions = append(mem.Partitions, t.Partitions...)
			}
		}
		slices.Sort(mem.Partitions)
		for _, p := range mem.Partitions {
			owner[p] = m.MemberID
		}
		g.Members = append(g.Members, mem)
	}
	slices.SortFunc(g.Members, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })

	parts, err := c.Partitions(ctx, topic)
	if err != nil {
		return g, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	ids := make([]int, len(parts))
	for i, p := range parts {
		ids[i] = p.ID
	}
	slices.Sort(ids)
	committed := map[int]int64{}
	of, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err != nil {
		return g, fmt.Errorf("committed offsets of %s: %w", group, err)
	}
	if of.Error != nil {
		return g, fmt.Errorf("committed offsets of %s: %w", group, of.Error)
	}
	for _, p := range of.Topics[topic] {
		if p.Error == nil {
			committed[p.Partition] = p.CommittedOffset
		}
	}
	ends, err := c.Ends(ctx, topic, ids...)
	if err != nil {
		return g, fmt.Errorf("ends of %s: %w", topic, err)
	}
	for _, id := range ids {
		p := GroupPartition{ID: id, Owner: owner[id], Committed: -1, End: -1, Lag: -1}
		if off, ok := committed[id]; ok && off >= 0 {
			p.Committed = off
		}
		if end, ok := ends[id]; ok {
			p.End = end
			p.Lag = end - max(p.Committed, 0)
		}
		g.Partitions = append(g.Partitions, p)
	}
	return g, nil
}
