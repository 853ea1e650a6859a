// Package loadtest drives the scorer with open-loop load and reports what
// it saw: a seeded generator of realistic, labelled transactions (or a
// replayed log), a pacer that sends request i at start + i/rate whatever the
// server does, HTTP and Kafka targets, and text, JSON and HTML reports.
//
// Latency is measured from the time a request was due, not from when it was
// sent, so a slow server cannot hide its queue from the report (no
// coordinated omission, as in wrk2). Service time, from the actual send, is
// reported beside it.
//
//	sched, _ := loadtest.ParseStages("10s:1000,30s:5000")
//	gen := loadtest.NewGenerator(loadtest.GeneratorConfig{Seed: 1, Cards: 10000, FraudRate: 0.01, RunID: "run1"})
//	rep, err := loadtest.Run(ctx, loadtest.Config{Schedule: sched, MaxInFlight: 256}, gen, target)
package loadtest
