package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/stream"
)

// TestClusterCheck runs cluster-check against a kfake broker and real
// kafka-go group members: one instance owning every partition with what it
// has not committed as lag, then two instances sharing the partitions.
func TestClusterCheck(t *testing.T) {
	_, addr := kafkatest.BrokerWith(t)
	kafkatest.CreateTopic(t, addr, "transactions", 3)
	var msgs []kafka.Message
	for i := range 9 {
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprint("card-", i)), Value: []byte("{}")})
	}
	kafkatest.Produce(t, addr, "transactions", msgs...)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	member := func() *kafka.Reader {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, GroupID: "scorer", Topic: "transactions",
			StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond,
			JoinGroupBackoff: 100 * time.Millisecond, RebalanceTimeout: 2 * time.Second})
		t.Cleanup(func() { r.Close() })
		return r
	}
	first := member()
	for range 9 {
		m, err := first.FetchMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := first.CommitMessages(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// Three more that nobody commits: the lag.
	kafkatest.Produce(t, addr, "transactions", msgs[:3]...)

	check := func(want ...string) string {
		t.Helper()
		var out string
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			var stdout, stderr bytes.Buffer
			err := run(ctx, []string{"cluster-check", "--brokers", addr}, &stdout, &stderr)
			out = stdout.String()
			ok := err == nil
			for _, w := range want {
				ok = ok && strings.Contains(out, w)
			}
			if ok {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster-check = %v\n%s%s\nwant it to hold %q", err, out, stderr.String(), want)
			}
		}
	}
	out := check("group scorer (Stable) on transactions: 1 instances, 3 partitions, 0 unowned, lag 3", "0,1,2")
	t.Logf("\n%s", out)
	var committed, ends int64
	for _, line := range strings.Split(out, "\n") {
		var p, c, e, l int64
		var owner string
		if n, _ := fmt.Sscan(line, &p, &c, &e, &l, &owner); n == 5 {
			committed, ends = committed+c, ends+e
		}
	}
	if committed != 9 || ends != 12 {
		t.Errorf("committed offsets add up to %d and ends to %d, want 9 and 12", committed, ends)
	}

	// --card names the partition the card's records went to, and its owner.
	var stdout, stderr bytes.Buffer
	if err := run(ctx, []string{"cluster-check", "--brokers", addr, "--card", "card-4"}, &stdout, &stderr); err != nil {
		t.Fatal(err, stderr.String())
	}
	all, err := kafkatest.ReadAll(ctx, addr, "transactions")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if string(m.Key) == "card-4" && !strings.Contains(stdout.String(), fmt.Sprintf("card card-4: partition %d, instance scorer", m.Partition)) {
			t.Errorf("card-4 was written to partition %d; cluster-check --card says:\n%s", m.Partition, stdout.String())
		}
	}
	if err := run(ctx, []string{"cluster-check", "--brokers", addr, "--card", "4111 1111 1111 1111"}, &stdout, &stderr); err == nil {
		t.Error("cluster-check --card with a card number succeeded, want it refused")
	}

	// A second instance joins, advertising its URL as serve --advertised-url
	// does: the partitions are shared, none unowned, and its URL shows.
	second := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, GroupID: "scorer", Topic: "transactions",
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond,
		JoinGroupBackoff: 100 * time.Millisecond, RebalanceTimeout: 2 * time.Second,
		GroupBalancers: stream.GroupBalancers(stream.Member{URL: "http://10.0.0.2:8080"})})
	t.Cleanup(func() { second.Close() })
	go second.FetchMessage(ctx) // joins the group
	out = check("2 instances, 3 partitions, 0 unowned", "http://10.0.0.2:8080")
	t.Logf("\n%s", out)
}
