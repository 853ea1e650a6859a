package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/fraudscore/scorer/kafkaconn"
	"github.com/fraudscore/scorer/loadtest"
)

// loadtestCommand runs "scorer loadtest": open-loop load against the
// service over HTTP or Kafka, with a text summary on stdout, a progress line
// every second on stderr, optional JSON and HTML reports, and exit code 99
// when a threshold (--max-p99, --max-error-rate) is broken. With
// --find-capacity it runs loadtest.FindCapacity instead (HTTP only), and
// exits 99 when even the start rate fails.
func loadtestCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", "http", "http (POST {target}/score) or kafka (produce to --topic, time alerts on --alerts-topic)")
	target := fs.String("target", "http://127.0.0.1:8080", "base URL of the service (http mode)")
	token := fs.String("token", "", "bearer token (http mode, when the service has auth on)")
	timeoutMs := fs.Int("timeout-ms", 0, "X-Timeout-Ms sent with each request (http mode; 0: not sent)")
	client := fs.String("client", "fast", "HTTP client (http mode): fast (a purpose-built HTTP/1.1 client, plain http only, a fraction of the CPU per request)\nor std (Go's net/http, for https or to compare)")
	clientTimeout := fs.Duration("client-timeout", 10*time.Second, "client-side timeout of one request or produce")
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated Kafka brokers (kafka mode)")
	topic := fs.String("topic", "transactions", "topic to produce to (kafka mode)")
	alertsTopic := fs.String("alerts-topic", "fraud.alerts", "alerts topic read for end-to-end latency (kafka mode; empty: off)")
	drain := fs.Duration("drain", 5*time.Second, "how long to wait for outstanding alerts after the last produce (kafka mode)")
	var tlsCfg kafkaconn.TLS
	var saslCfg kafkaconn.SASL
	kafkaFlags(fs, &tlsCfg, &saslCfg)
	rate := fs.Float64("rate", 100, "requests per second (single stage, with --duration)")
	duration := fs.Duration("duration", 10*time.Second, "length of the run (single stage, with --rate)")
	stages := fs.String("stages", "", "stages duration:rate,... e.g. 10s:1000,30s:5000 (overrides --rate/--duration); a rate such as 2x is a multiple of --capacity")
	phases := fs.String("phases", "", "the same as --stages (give one of the two): --phases 8s:0.5x,8s:2x,8s:0.5x --capacity 6000 holds half the capacity, twice it, then half again in one run; the per-stage table and the timeline show the overload and the recovery")
	capacity := fs.Float64("capacity", 0, "the service's capacity in requests/s: a --stages/--phases rate written Nx means N times it")
	maxInFlight := fs.Int("max-inflight", 256, "most requests in flight (workers and connections)")
	slack := fs.Duration("slack", loadtest.DefaultSlack, "how long past its due time a request may wait for a free worker before it is dropped")
	seed := fs.Uint64("seed", 1, "generator seed: the same seed gives the same traffic")
	cards := fs.Int("cards", 10000, "distinct cards (Zipf-distributed activity)")
	fraudRate := fs.Float64("fraud-rate", 0.01, "fraction of labelled fraud transactions")
	replay := fs.String("replay", "", "JSONL transaction log to replay instead of generating (event times shifted to end now)")
	labels := fs.String("labels", "", "CSV transaction_id,is_fraud labelling the --replay log")
	runID := fs.String("run-id", "", "prefix of every transaction_id (default: random)")
	out := fs.String("out", "", "write the JSON report to this file")
	htmlOut := fs.String("html", "", "write a self-contained HTML report to this file")
	maxP99 := fs.Duration("max-p99", 0, "fail (exit 99) when the p99 latency exceeds this (0: off); with --find-capacity, the budget of each step's admitted p99 (required)")
	maxErrRate := fs.Float64("max-error-rate", 1, "fail (exit 99) when errors/sent exceeds this; errors are transport errors, 4xx and 5xx except 503 (1: off);\nwith --find-capacity, the bound of each step's (shed+errors+dropped)/offered (1: 0.001)")
	findCapacity := fs.Bool("find-capacity", false, "search for the highest offered rate whose admitted p99 (of successful answers, from the due time) is within --max-p99\nand whose (shed+errors+dropped)/offered is within --max-error-rate: steps of --step-duration from --start-rate, growing by half\nwhile they pass, then bisecting to within 5%; exit 99 when even --start-rate fails (http mode; --rate, --duration do not apply)")
	startRate := fs.Float64("start-rate", loadtest.DefaultStartRate, "first rate of --find-capacity (requests/s)")
	maxRate := fs.Float64("max-rate", loadtest.DefaultMaxRate, "highest rate --find-capacity offers (requests/s)")
	stepDuration := fs.Duration("step-duration", loadtest.DefaultStepDuration, "length of each --find-capacity step")
	settle := fs.Duration("settle", loadtest.DefaultSettle, "how long --find-capacity waits, sending nothing, before each step")
	maxSteps := fs.Int("max-steps", loadtest.DefaultMaxSteps, "most steps --find-capacity runs")
	retries := fs.Int("capacity-retries", loadtest.DefaultRetries, "how many times --find-capacity runs a failing step again before its rate counts as failing (0: none)")
	progress := fs.Bool("progress", true, "print a progress line every second on stderr")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the load tool itself to this file (go tool pprof)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: scorer loadtest [flags]\n\n"+
			"Open-loop load: request i is due at start + i/rate and latency is measured from\n"+
			"that due time. A request that finds every worker busy for longer than --slack\n"+
			"past its due time is dropped (counted, never queued). Exit 99 when a threshold\n"+
			"is broken.\n\n"+
			"Overload: --phases 8s:0.5x,8s:2x,8s:0.5x --capacity 6000 holds half, twice and\n"+
			"half the capacity; the report has a row per phase and a timeline of goodput,\n"+
			"sheds and admitted p99 (of successful answers) to show the recovery.\n"+
			"Capacity: --find-capacity --max-p99 10ms searches for the highest rate within\n"+
			"the budget; exit 99 when even --start-rate fails.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}

	if *capacity < 0 {
		return errors.New("--capacity must be positive (requests/s)")
	}
	if *stages != "" && *phases != "" {
		return errors.New("--stages and --phases are the same: give one")
	}
	if *findCapacity {
		switch {
		case *maxP99 <= 0:
			return errors.New("--find-capacity needs --max-p99: the latency budget of the successful answers")
		case *mode != "http":
			return errors.New("--find-capacity drives the service over HTTP: --mode http")
		case *stages != "" || *phases != "" || *capacity != 0:
			return errors.New("--find-capacity chooses its own rates: drop --stages, --phases and --capacity")
		case *startRate <= 0 || *maxRate < *startRate:
			return errors.New("--start-rate must be positive and at most --max-rate")
		case *stepDuration <= 0 || *settle < 0 || *maxSteps <= 0:
			return errors.New("--step-duration and --max-steps must be positive, --settle not negative")
		}
	}
	var sched loadtest.Schedule
	if spec := *stages + *phases; spec != "" {
		s, err := loadtest.ParseStagesOf(spec, *capacity)
		if err != nil {
			return err
		}
		sched = s
	} else {
		if *rate <= 0 || *duration <= 0 {
			return errors.New("--rate and --duration must be positive")
		}
		sched = loadtest.Schedule{{Duration: *duration, Rate: *rate}}
	}
	if *maxInFlight <= 0 {
		return errors.New("--max-inflight must be positive")
	}
	if *client != "fast" && *client != "std" {
		return fmt.Errorf("--client %q: want fast or std", *client)
	}
	if *runID == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		*runID = "lt" + time.Now().UTC().Format("060102T150405") + "-" + hex.EncodeToString(b[:])
	}

	var lab map[string]bool
	if *replay != "" && *labels != "" {
		l, err := loadtest.ReadLabels(*labels)
		if err != nil {
			return err
		}
		lab = l
	}
	// newSource opens the traffic of a run, or of step n (from 1) of a
	// capacity search: its own run id, so that steps never repeat an id.
	newSource := func(n int) (loadtest.Source, error) {
		id, seedN := *runID, *seed
		if n > 0 {
			id, seedN = fmt.Sprintf("%s-s%d", *runID, n), *seed+uint64(n-1)
		}
		if *replay != "" {
			return loadtest.OpenReplay(*replay, id, lab, nil)
		}
		return loadtest.NewGenerator(loadtest.GeneratorConfig{Seed: seedN, Cards: *cards, FraudRate: *fraudRate, RunID: id}), nil
	}
	var src loadtest.Source
	if !*findCapacity {
		s, err := newSource(0)
		if err != nil {
			return err
		}
		if c, ok := s.(io.Closer); ok {
			defer c.Close()
		}
		src = s
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}

	var tgt loadtest.Target
	var where string
	switch *mode {
	case "http":
		hcfg := loadtest.HTTPConfig{BaseURL: *target, Token: *token, TimeoutMs: *timeoutMs,
			Timeout: *clientTimeout, MaxInFlight: *maxInFlight}
		if *client == "std" {
			t := loadtest.NewHTTPTarget(hcfg)
			defer t.Close()
			tgt = t
		} else {
			t, err := loadtest.NewFastHTTPTarget(hcfg)
			if err != nil {
				return fmt.Errorf("--client fast: %w", err)
			}
			defer t.Close()
			tgt = t
		}
		where = strings.TrimRight(*target, "/") + "/score"
	case "kafka":
		cluster, err := kafkaCluster(*brokers, tlsCfg, saslCfg)
		if err != nil {
			return err
		}
		defer cluster.Close()
		t, err := loadtest.NewKafkaTarget(ctx, loadtest.KafkaConfig{Kafka: cluster, Topic: *topic,
			AlertsTopic: *alertsTopic, RunID: *runID, MaxInFlight: *maxInFlight, Drain: *drain, Timeout: *clientTimeout})
		if err != nil {
			return err
		}
		defer t.Close()
		tgt, where = t, *brokers+"/"+*topic
	default:
		return fmt.Errorf("--mode %q: want http or kafka", *mode)
	}

	var prog io.Writer
	if *progress {
		prog = stderr
	}
	writeReports := func(rep *loadtest.Report) error {
		if *out != "" {
			if err := rep.WriteFile(*out, false); err != nil {
				return err
			}
		}
		if *htmlOut != "" {
			if err := rep.WriteFile(*htmlOut, true); err != nil {
				return err
			}
		}
		return nil
	}

	if *findCapacity {
		ccfg := loadtest.CapacityConfig{MaxP99: *maxP99, MaxErrorRate: *maxErrRate, StartRate: *startRate, MaxRate: *maxRate,
			StepDuration: *stepDuration, Settle: *settle, MaxSteps: *maxSteps, Retries: cmp.Or(max(*retries, 0), -1), MaxInFlight: *maxInFlight, Slack: *slack,
			Progress: prog, Out: stdout}
		if *settle == 0 {
			ccfg.Settle = -1 // no wait, where the package's zero is its default
		}
		describe := func(rep *loadtest.Report) { rep.Mode, rep.Target, rep.RunID = *mode, where, *runID }
		return runCapacity(ctx, ccfg, newSource, tgt, stdout, describe, writeReports)
	}

	cfg := loadtest.Config{Schedule: sched, MaxInFlight: *maxInFlight, Slack: *slack, Capacity: *capacity, Progress: prog}
	rep, runErr := loadtest.Run(ctx, cfg, src, tgt)
	if rep == nil {
		return runErr
	}
	rep.Mode, rep.Target, rep.RunID = *mode, where, *runID
	if r, ok := src.(*loadtest.Replay); ok && r.Err() != nil && runErr == nil {
		runErr = r.Err() // the report of what was sent is still written
	}
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	if err := writeReports(rep); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	if err := rep.Check(loadtest.Thresholds{MaxP99: *maxP99, MaxErrorRate: *maxErrRate}); err != nil {
		return &exitError{code: 99, err: err}
	}
	return nil
}

// runCapacity runs "scorer loadtest --find-capacity": the search prints its
// curve on stdout as it goes, then the summary of the step at capacity and
// the answer; the reports are the step at capacity with the search in it.
// Exit 99 when even the start rate fails.
func runCapacity(ctx context.Context, cfg loadtest.CapacityConfig, newSource func(int) (loadtest.Source, error),
	tgt loadtest.Target, stdout io.Writer, describe func(*loadtest.Report), write func(*loadtest.Report) error) error {
	var note string
	if cfg.MaxErrorRate < 0 || cfg.MaxErrorRate >= 1 {
		cfg.MaxErrorRate = loadtest.DefaultCapacityErrorRate
		note = fmt.Sprintf(" (--max-error-rate not given: %g)", cfg.MaxErrorRate)
	}
	fmt.Fprintf(stdout, "scorer loadtest --find-capacity: the highest offered rate whose p99 of successful answers (from the due time) is <= %s\n"+
		"and whose (shed + errors + dropped) / offered is <= %g%s; steps of %s, %s of quiet before each\n",
		cfg.MaxP99, cfg.MaxErrorRate, note, cfg.StepDuration, max(cfg.Settle, 0))
	n := 0
	next := func() (loadtest.Source, error) {
		n++
		return newSource(n)
	}
	c, err := loadtest.FindCapacity(ctx, cfg, next, tgt)
	if c == nil {
		return err
	}
	rep := c.Report
	if rep == nil {
		rep = &loadtest.Report{Status: map[string]int64{}, ErrorSamples: []string{}}
	}
	describe(rep)
	if c.Report != nil {
		if c.Found() {
			fmt.Fprintf(stdout, "\nthe highest passing step, at %.0f/s:\n", c.Rate)
		} else {
			fmt.Fprintf(stdout, "\nthe first step, at %.0f/s:\n", c.Steps[0].Offered)
		}
		if werr := rep.WriteText(stdout); werr != nil {
			return werr
		}
	}
	rep.Capacity = c
	fmt.Fprintf(stdout, "\n%s\n", c.Answer())
	if werr := write(rep); werr != nil {
		return werr
	}
	if err != nil {
		return fmt.Errorf("capacity search: %w", err)
	}
	if !c.Found() {
		return &exitError{code: 99, err: errors.New(c.Answer())}
	}
	return nil
}
