package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/fraudscore/scorer/deadletter"
	"github.com/fraudscore/scorer/kafkaconn"
)

const dlqUsage = `usage:
  scorer dlq replay [flags]   re-drive dead letters to their source topic

Run "scorer dlq replay -h" for the flags.
`

// dlqCommand runs "scorer dlq <subcommand>".
func dlqCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, dlqUsage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "replay":
		return dlqReplay(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, dlqUsage)
		return nil
	default:
		fmt.Fprint(stderr, dlqUsage)
		return fmt.Errorf("unknown dlq command %q", args[0])
	}
}

// dlqClasses are the values --class accepts, so that a typo is an error
// rather than a replay that matches nothing.
var dlqClasses = deadletter.Classes

func dlqReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dlq replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated Kafka brokers")
	topic := fs.String("topic-dlq", "transactions.dlq", "dead-letter topic to read (as serve's --topic-dlq)")
	class := fs.String("class", "", "comma-separated classes to replay: decode, validation, processing (default all)")
	from := fs.Int64("from", 0, "first DLQ offset to replay, in each partition read")
	to := fs.Int64("to", -1, "last DLQ offset to replay, inclusive; -1: the end as of the start")
	partition := fs.Int("partition", -1, "DLQ partition to read; -1: all")
	dryRun := fs.Bool("dry-run", false, "report what would be replayed, produce nothing")
	var tlsCfg kafkaconn.TLS
	var saslCfg kafkaconn.SASL
	kafkaFlags(fs, &tlsCfg, &saslCfg)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: scorer dlq replay [flags]\n\n"+
			"Re-drives dead letters to their source topic (header dlq.source.topic), without\n"+
			"the dlq.* headers and with dlq.replayed_from. Prints one line per record read.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *from < 0 {
		return fmt.Errorf("--from %d: must not be negative", *from)
	}
	var classes []deadletter.Class
	for _, c := range splitList(*class) {
		if !slices.Contains(dlqClasses, deadletter.Class(c)) {
			return fmt.Errorf("--class %q: want one of decode, validation, processing", c)
		}
		classes = append(classes, deadletter.Class(c))
	}
	cluster, err := kafkaCluster(*brokers, tlsCfg, saslCfg)
	if err != nil {
		return err
	}
	defer cluster.Close()
	o := deadletter.ReplayOptions{
		Kafka: cluster, Topic: *topic, Classes: classes, From: *from, To: *to,
		Partition: *partition, DryRun: *dryRun, Out: stdout,
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := deadletter.Replay(ctx, o)
	replayed := "replayed"
	if o.DryRun {
		replayed = "would replay (dry run)"
	}
	if err == nil || st.Scanned > 0 {
		fmt.Fprintf(stdout, "dlq replay %s: scanned %d, %s %d, skipped %d\n", o.Topic, st.Scanned, replayed, st.Replayed, st.Skipped)
	}
	return err
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
