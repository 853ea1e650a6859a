// Command scorer is the real-time fraud-scoring service and its tools.
//
//	scorer serve     run the HTTP API, the Kafka consumer and the alert relay
//	scorer backfill  compute the features of a transaction log into a table,
//	                 or correct a running service's online state from it
//	scorer parity    compare the features a service stored with the backfill's
//	scorer train     train a model on a labelled table
//	scorer evaluate  measure a model and rules on labelled history
//	scorer backtest  compare candidate rules or model with the active ones
//	scorer healthcheck  exit 0 when --url answers 200 (container health checks)
//	scorer version   print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "scorer:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitError carries a specific exit code (e.g. 99 for failed thresholds).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

const usage = `scorer: real-time fraud scoring

usage:
  scorer serve [flags]     run the service (HTTP API, Kafka consumer, alert relay)
  scorer loadtest [flags]  drive a scorer with open-loop load and report latency
  scorer dlq replay [flags] re-drive dead-lettered records to their source topic
  scorer cluster-check [flags] the instances of the consumer group, the partitions
                           each owns, and each partition's committed offset and lag
  scorer backfill [flags]  compute every feature of a transaction log (file or topic)
                           into a Parquet or CSV table, as the service computes them;
                           with --correct, correct a running service's online state
                           from the log's last days
  scorer parity [flags]    compare the features a running service stored for a log's
                           transactions with the backfill's: differences by feature
                           and cause (late, out of order, missing, duplicate, truncated)
  scorer train [flags]     train a model (gradient-boosted trees or logistic) on a
                           labelled table, with thresholds from business targets
  scorer evaluate [flags]  ROC-AUC, PR-AUC, recall at alert rates... of a model and
                           rules on a labelled table or a log replayed through the pipeline
  scorer backtest [flags]  candidate rules or model beside the active ones on history
  scorer noop [flags]      a no-op POST /score on chi, the baseline of the benchmarks
  scorer healthcheck       exit 0 when the service at --url answers 200 (for HEALTHCHECK)
  scorer version           print the version

Every flag can also be set as an environment variable SCORER_<FLAG>, e.g.
SCORER_HTTP_ADDR=:8080. Run "scorer serve -h" for the flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "loadtest":
		return loadtestCommand(ctx, args[1:], stdout, stderr)
	case "dlq":
		return dlqCommand(ctx, args[1:], stdout, stderr)
	case "cluster-check":
		return clusterCheck(ctx, args[1:], stdout, stderr)
	case "backfill":
		return backfillCommand(ctx, args[1:], stdout, stderr)
	case "parity":
		return parityCommand(ctx, args[1:], stdout, stderr)
	case "train":
		return trainCommand(ctx, args[1:], stdout, stderr)
	case "evaluate":
		return evaluateCommand(ctx, args[1:], stdout, stderr)
	case "backtest":
		return backtestCommand(ctx, args[1:], stdout, stderr)
	case "noop":
		return noop(ctx, args[1:], stderr)
	case "healthcheck":
		return healthcheck(ctx, args[1:], stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "scorer", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}

// newFlagSet returns the flag set of a subcommand: errors and the help
// (help, then every flag) go to stderr.
func newFlagSet(name, help string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), help)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, then fills every flag not given on the command
// line from SCORER_<NAME> (upper case, dashes as underscores).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := "SCORER_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", env, e)
			}
		}
	})
	return err
}

// healthcheck is for container health checks where no curl exists.
func healthcheck(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080/readyz", "URL that must answer 200")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", *url, resp.Status)
	}
	return nil
}
