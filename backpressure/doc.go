// Package backpressure is admission control for POST /score: it bounds how
// many requests run at once, lets a few wait briefly for a slot, and sheds
// the rest at once with 503 and Retry-After, before any body is read.
//
//	lim := backpressure.New(backpressure.Options{})
//	api.New(api.Config{Admission: lim.Middleware(budget), ...})
//
// # Admission
//
// Acquire admits a request when fewer than Limit requests are in flight and
// nobody is queued ahead of it. Otherwise the request joins a FIFO queue and
// is woken, oldest first, when a slot frees or the limit grows. It is shed:
//
//   - "budget" at once when its remaining budget is below MinBudget: nothing
//     useful can be done in that time, so it costs only the 503;
//   - "queue full" at once when MaxQueue requests already wait;
//   - "budget" at once, or after waiting, when it could not both wait and be
//     served: it waits at most remaining budget - MinBudget - LatencyEstimate,
//     where LatencyEstimate is the mean service time of the last window of
//     admitted requests. A request that would wait past that point would be
//     admitted only to time out, wasting a slot that a fresher request could
//     have used, which is how goodput collapses under overload;
//   - "limit" when it waited MaxWait without getting a slot.
//
// The estimate gates only queueing, never the fast path: a request that
// finds a free slot is admitted whatever its budget (above MinBudget),
// because the scoring pipeline answers a short budget with its rules-only
// fallback, and because samples from admitted requests are what keep the
// estimate current; shedding on the fast path could starve it.
//
// MaxWait is short (10ms by default) on purpose: the queue absorbs bursts
// shorter than one service time; it is not a buffer for sustained overload,
// which only adds latency. Sustained overload is met by shedding.
//
// # Adaptive limit
//
// The limit follows a gradient algorithm in the spirit of Netflix's
// concurrency-limits Gradient2. Each admitted request contributes a sample:
// its service time (from admission to release, queueing excluded) and
// whether it was dropped. Samples are folded into a window that closes
// every Window (100ms) once it holds at least 10 samples; the limit changes
// only when a window closes, so the request path takes no part in the
// arithmetic and the limiter's locks stay short. When a window closes:
//
//	short    = mean service time in the window
//	long     = EWMA of short, weighted as an EWMA over the last 600 samples;
//	           when long > 2*short (load fell away) long drops to 2*short so
//	           that an old peak does not hold the limit high
//	baseline = lowest window mean of the last 30 s (uncongested service time)
//	ref      = min(long, 4*baseline)
//	gradient = clamp(Tolerance*ref/short, 0.5, 1)           Tolerance = 1.5
//	target   = limit*gradient + sqrt(limit)
//	limit    = 0.8*limit + 0.2*target, clamped to [MinLimit, MaxLimit]
//
// While latency is steady and near the baseline the gradient is 1 and the
// limit creeps up by sqrt(limit)/5 a window, probing for capacity. The
// baseline (as in TCP Vegas) stops that creep under a long overload: once
// latency passes 6 times the uncongested service time, the limit shrinks
// however steady latency is, instead of walking admitted requests up to
// their budgets; when latency rises faster
// than the long-term average can follow (queues are building), the gradient
// falls below 1 and the limit shrinks in proportion, by at most about 10%
// a window (gradient 0.5, smoothed by 0.2). The sqrt term leaves room for a small queue so
// that the service never idles between completions. The limit does not grow
// while fewer than half the slots were used in the window (the service is
// not the bottleneck, so latency says nothing about a higher limit).
//
// A window with any dropped sample (a timeout or an overload error) instead
// cuts the limit to 0.9*limit, like AIMD. Dropped samples matter because a
// gradient alone drifts: under sustained overload the long-term average
// keeps catching up with a slowly rising short-term one, so the limit can
// creep upward until requests start missing their deadlines; a timeout is
// the anchor that stops that creep. In the package's overload test (4
// workers of 5ms, 3x load, 200ms budgets) the limit first falls from 32 to
// about 25, then creeps back to about 55 within 3s, with admitted requests
// at a p50 of about 60ms: goodput holds at capacity, but under sustained
// overload latency trends toward the budget rather than toward the
// service's no-load latency.
//
// Static keeps the limit at InitialLimit: the fallback when the latency
// signal misleads, e.g. when a remote dependency, not this service, is slow
// (a concurrency limit then shrinks throughput without relieving anything).
//
// # HTTP
//
// Middleware measures the budget as api does (the request context's
// deadline, else the server budget shortened by X-Timeout-Ms), admits or
// sheds before the wrapped handler runs, and releases the slot when the
// handler returns. A response is a dropped sample when it is 503 or 504, or
// when it came after the request's budget had run out.
package backpressure
