// Package loadtest drives the scorer with open-loop load and reports what
// it saw: a seeded generator of realistic, labelled transactions (or a
// replayed log), a pacer that sends request i at start + i/rate whatever the
// server does, HTTP and Kafka targets, and text, JSON and HTML reports.
//
// Of the HTTP targets, FastHTTPTarget is the one to overload a service
// with: a purpose-built HTTP/1.1 client that spends about a third of the
// user CPU per request of HTTPTarget (net/http's client; the kernel's
// share, the same two system calls, is unchanged), so that one core
// offers about 2.5 times the rate. HTTPTarget speaks https.
//
// Latency is measured from the time a request was due, not from when it was
// sent, so a slow server cannot hide its queue from the report (no
// coordinated omission, as in wrk2). Service time, from the actual send, is
// reported beside it. Admitted latency is the same, of the successful
// answers only: 503s shed by admission control are fast and would hide the
// wait of what was admitted.
//
// A schedule's rates can be multiples of a capacity (ParseStagesOf:
// "8s:0.5x,8s:2x,8s:0.5x"), to hold a service under, over and again under
// its capacity in one run; the report summarises each stage, and its
// per-second timeline shows goodput, sheds and admitted p99 through the
// overload and the recovery.
//
//	sched, _ := loadtest.ParseStages("10s:1000,30s:5000")
//	gen := loadtest.NewGenerator(loadtest.GeneratorConfig{Seed: 1, Cards: 10000, FraudRate: 0.01, RunID: "run1"})
//	rep, err := loadtest.Run(ctx, loadtest.Config{Schedule: sched, MaxInFlight: 256}, gen, target)
package loadtest
