package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/kafkaconn"
	"github.com/fraudscore/scorer/stream"
)

const clusterCheckHelp = `usage: scorer cluster-check [flags]

Prints the scorers' consumer group on the transactions topic: each instance and
the partitions it owns, and per partition its owner, committed offset, end and lag.

flags:
`

// clusterCheck prints where the scorers' consumer group stands on the
// transactions topic: each instance (group member) and the partitions it
// owns, and each partition's owner, committed offset, end and lag.
func clusterCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cluster-check", clusterCheckHelp, stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated Kafka brokers")
	topic := fs.String("topic-transactions", "transactions", "the input topic (as serve's --topic-transactions)")
	group := fs.String("group-id", "scorer", "the scorers' consumer group (as serve's --group-id)")
	card := fs.String("card", "", "also say which partition and instance hold this card_id's transactions")
	var tlsCfg kafkaconn.TLS
	var saslCfg kafkaconn.SASL
	kafkaFlags(fs, &tlsCfg, &saslCfg)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fraud.LooksLikePAN(*card) {
		return errors.New("--card: that is a card number, not a card_id; card numbers never go into the scorer")
	}
	cluster, err := kafkaCluster(*brokers, tlsCfg, saslCfg)
	if err != nil {
		return err
	}
	defer cluster.Close()
	g, err := cluster.Group(ctx, *group, *topic)
	if err != nil {
		return err
	}
	writeGroup(stdout, g, *topic)
	if *card != "" && len(g.Partitions) > 0 {
		p := g.Partitions[kafkaconn.PartitionOf(*card, len(g.Partitions))]
		fmt.Fprintf(stdout, "\ncard %s: partition %d, instance %s\n", *card, p.ID, orDash(p.Owner))
	}
	return nil
}

// writeGroup prints g as cluster-check does.
func writeGroup(w io.Writer, g kafkaconn.Group, topic string) {
	var lag int64
	unowned := 0
	for _, p := range g.Partitions {
		lag += max(p.Lag, 0)
		if p.Owner == "" {
			unowned++
		}
	}
	fmt.Fprintf(w, "group %s (%s) on %s: %d instances, %d partitions, %d unowned, lag %d\n\n",
		g.ID, orDash(g.State), topic, len(g.Members), len(g.Partitions), unowned, lag)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "instance\thost\turl\tpartitions")
	for _, m := range g.Members {
		ps := make([]string, len(m.Partitions))
		for i, p := range m.Partitions {
			ps[i] = fmt.Sprint(p)
		}
		url := "?" // metadata that is not a scorer's
		if sm, err := stream.DecodeMember(m.UserData); err == nil {
			url = orDash(sm.URL)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.ID, orDash(m.Host), url, orDash(strings.Join(ps, ",")))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "partition\tcommitted\tend\tlag\towner\t")
	num := func(n int64) string {
		if n < 0 {
			return "-"
		}
		return fmt.Sprint(n)
	}
	for _, p := range g.Partitions {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t\n", p.ID, num(p.Committed), num(p.End), num(p.Lag), orDash(p.Owner))
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
