// Package backpressure is admission control for POST /score: it bounds how
// many requests run at once, lets a few wait briefly for a slot, and sheds
// the rest at once with 503 and Retry-After, before any body is read.
//
//	lim := backpressure.New(backpressure.Options{})
//	api.New(api.Config{Admission: lim, ...})
//
// # Admission
//
// Acquire admits a request when fewer than Limit requests are in flight and
// nobody is queued ahead of it. Otherwise the request joins a FIFO queue and
// is woken, oldest first, when a slot frees or the limit grows. It is shed:
//
//   - "budget" at once when its remaining budget is below MinBudget: nothing
//     useful can be done in that time, so it costs only the 503;
//   - "queue full" at once when MaxQueue requests already wait (when the
//     queue is standing, see below, what the limit serves in StandingWait);
//   - "budget" at once, or after waiting, when it could not both wait and be
//     served: it waits at most remaining budget - MinBudget - LatencyEstimate,
//     where LatencyEstimate is the mean service time of the last window of
//     admitted requests. A request that would wait past that point would be
//     admitted only to time out, wasting a slot that a fresher request could
//     have used, which is how goodput collapses under overload;
//   - "limit" when it waited its wait without getting a slot.
//
// # Bursts and standing queues
//
// How long a request may wait depends on whether the queue is a burst or
// overload, in the manner of CoDel as Facebook applies it to RPC queues
// ("Fail at scale", 2015). A queue that empties within Interval (500ms) is a
// burst: the CPU is briefly short (on the scorer, chiefly a Badger memtable
// flush, a few hundred ms of CPU every 10-20 s at 0.8x capacity on one core)
// and the queue drains once it passes, so waiters may wait MaxWait (100ms)
// and nothing the service can serve is shed. A queue that has not emptied for
// Interval is standing: demand is above capacity, waiting serves nobody and
// only adds latency, so newcomers wait StandingWait (5ms) and the queue holds
// only what the limit serves in that time (limit x StandingWait /
// LatencyEstimate), the rest refused before their body is read: a waiter
// that times out has cost a body read and a decode, a refusal only a 503.
// The standing state ends when the queue empties.
//
// The estimate gates only queueing, never the fast path: a request that
// finds a free slot is admitted whatever its budget (above MinBudget),
// because the scoring pipeline answers a short budget with its rules-only
// fallback, and because samples from admitted requests are what keep the
// estimate current; shedding on the fast path could starve it.
//
// # Adaptive limit
//
// The limit follows the CPU, not the latency of admitted requests. On the
// scorer that latency is confounded twice over: a group commit gathered
// with fewer requests in flight is slower, not faster, so a latency
// gradient (as in Netflix's Gradient2, which this package used before)
// read a cut limit's own slowness as more congestion and ratcheted the
// limit down under load the service could carry (to 4, serving 2,320/s of
// a 6,000/s capacity); and the work that competes for the CPU is mostly
// not the admitted requests' but the parsing and shedding of everything
// offered. So the limit reacts to what it can change:
//
//   - CPU saturation: the Go scheduler's latency (runtime/metrics
//     /sched/latencies:seconds), how long runnable goroutines wait for a
//     CPU, p90 over the window. Above SchedTarget (2ms) the run queue is
//     building, delaying every request, sheds included: the limit is cut
//     to 0.9×. A goroutine waiting on a commit, a channel or a remote model
//     is not runnable, so neither a group commit nor a slow dependency
//     shrinks the limit (a slow dependency is bounded on its own, see
//     model.RemoteOptions.MaxInFlight).
//   - But not below 0.8× the limit that served the best goodput in the
//     last 5 s: every shed costs CPU too, and past some point admitting
//     less only sheds more while the CPU stays as saturated, until goodput
//     collapses.
//   - Deadline misses: a window in which an admitted request ran past its
//     deadline cuts the limit to 0.9×, with no floor (the resource that is
//     short may not be the CPU).
//   - Demand: when requests found the limit reached (they queued, or were
//     shed for it) and the CPU had room, the limit grows by sqrt(limit) a
//     window, so a limit cut by a burst is back within a few windows.
//   - Otherwise it holds: an idle or app-limited service keeps its limit.
//
// Windows close every Window (100ms) once they hold at least 10 samples;
// the request path takes no part in the arithmetic.
//
// Static keeps the limit at InitialLimit, for operators who would rather
// size it themselves.
//
// # HTTP
//
// The api package calls Precheck before it reads a request's body (a shed
// then costs the headers alone: no body read, no decode, no slot), reads
// the body without holding a slot (a slow client holds nothing), then
// Acquires. Middleware does both for handlers that read nothing first. A
// request's deadline is its context's, set once upstream. A release
// reports a drop when the work ran past its deadline.
package backpressure
