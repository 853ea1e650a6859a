package velocity_test

import (
	"context"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BenchmarkRedisSortedSets is the common alternative to the velocity store,
// Redis sorted sets, fed the event stream of BenchmarkApply: the same card
// ids (n*7919 mod 100k), amounts (n mod 10000), event times (t0 + n ms),
// transaction ids and parallelism (32 goroutines per core). Each event is
// one MULTI/EXEC round trip on one connection (go-redis TxPipelined), so
// the commands of one event are atomic, as an Op's claim and update are.
//
// Sub-benchmarks, with the commands issued per event (K = v:<run>:<card>,
// t = event time in ms, all windows (t-W, t] as in the store):
//
//   - counts, the formulation: ZADD K t <tx id>; ZREMRANGEBYSCORE K
//     -inf t-24h; ZCOUNT K (t-W t for W in 1m, 5m, 1h, 24h. It answers the
//     four counts only: no amount sums, failed count, distinct merchants or
//     time since the previous event, no stored result, no dedup beyond
//     ZADD's (a retried id is one member, so it is not counted twice).
//   - features, all nine default features: SET s:<run>:<tx id> <result> NX
//     EX 86400 (the seen record with the result); ZADD K t
//     <tx id>|<amount>|<merchant>|<status>; ZREMRANGEBYSCORE K -inf t-24h;
//     ZRANGEBYSCORE K (t-24h t WITHSCORES, from which the client computes
//     the counts, sums, failed count, distinct merchants and time since the
//     previous event. Not replicated: the dedup is not conditional (a
//     duplicate's SET fails but its ZADD of the same member is a no-op only
//     when the member is identical), retention follows each event's own
//     time rather than stream time, no lateness or watermark, no per-card
//     event cap, and no anchor event older than 24h.
//
// Durability follows the server's configuration: with --appendonly yes
// --appendfsync everysec, Redis writes each command to its log before it
// answers and fsyncs once a second, which matches the velocity store's
// commits (written to Badger's log before Commit returns, not fsynced).
//
// The server is at SCORER_BENCH_REDIS [127.0.0.1:6379]; the benchmark is
// skipped when it cannot be reached. Keys are prefixed per run and deleted
// afterwards; nothing else on the server is touched.
func BenchmarkRedisSortedSets(b *testing.B) {
	addr := os.Getenv("SCORER_BENCH_REDIS")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	err := pingRedis(addr)
	if err != nil {
		b.Skipf("no Redis at %s (set SCORER_BENCH_REDIS, or start one: redis-server --port 6379 --save '' --appendonly no --daemonize yes): %v", addr, err)
	}
	b.Run("counts", func(b *testing.B) { benchRedis(b, addr, redisCounts) })
	b.Run("features", func(b *testing.B) { benchRedis(b, addr, redisFeatures) })
}

// pingRedis checks that a Redis server answers at addr. It dials first, so
// that a missing server is not retried and logged by the client's pool.
func pingRedis(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	conn.Close()
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

// redisEvent is one event of the BenchmarkApply stream.
type redisEvent struct {
	id, card, merchant, status string
	amount, ms                 int64
}

// redisApply sends one event's commands in one round trip and computes
// what it can of the features from their replies.
type redisApply func(ctx context.Context, c *redis.Client, prefix string, e redisEvent, result []byte) error

const (
	cardsInStream = 100_000
	dayMs         = int64(24 * time.Hour / time.Millisecond)
)

var countWindowsMs = []int64{int64(time.Minute / time.Millisecond), int64(5 * time.Minute / time.Millisecond),
	int64(time.Hour / time.Millisecond), dayMs}

func benchRedis(b *testing.B, addr string, apply redisApply) {
	// One connection per goroutine: RunParallel runs 32 * GOMAXPROCS.
	conns := 32 * runtime.GOMAXPROCS(0)
	// RESP2: with RESP3, go-redis peeks each connection for push
	// notifications before every command, a read syscall per round trip.
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, PoolSize: conns, MinIdleConns: conns,
		DialTimeout: time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
	prefix := "scorerbench:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
	b.Cleanup(func() {
		deleteRedisPrefix(b, c, prefix)
		c.Close()
	})
	ids := benchCards(cardsInStream)
	var seq atomic.Int64
	result := []byte(`{"transaction_id":"x","score":0.1,"decision":"approve"}`)
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			tx := benchEvent(ids, seq.Add(1)) // the same events as BenchmarkApply
			e := redisEvent{id: tx.ID, card: tx.CardID, merchant: tx.MerchantID, amount: tx.Amount, ms: tx.EventTime.UnixMilli()}
			if err := apply(ctx, c, prefix, e, result); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tx/s")
}

func redisCounts(ctx context.Context, c *redis.Client, prefix string, e redisEvent, _ []byte) error {
	key := prefix + "v:" + e.card
	t := strconv.FormatInt(e.ms, 10)
	var counts [4]*redis.IntCmd
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, key, redis.Z{Score: float64(e.ms), Member: e.id})
		p.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(e.ms-dayMs, 10))
		for i, w := range countWindowsMs {
			counts[i] = p.ZCount(ctx, key, "("+strconv.FormatInt(e.ms-w, 10), t)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, cmd := range counts {
		if cmd.Val() < 1 {
			return errBadCount
		}
	}
	return nil
}

func redisFeatures(ctx context.Context, c *redis.Client, prefix string, e redisEvent, result []byte) error {
	key := prefix + "v:" + e.card
	member := e.id + "|" + strconv.FormatInt(e.amount, 10) + "|" + e.merchant + "|" + e.status
	var rng *redis.ZSliceCmd
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SetNX(ctx, prefix+"s:"+e.id, result, 24*time.Hour)
		p.ZAdd(ctx, key, redis.Z{Score: float64(e.ms), Member: member})
		p.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(e.ms-dayMs, 10))
		rng = p.ZRangeByScoreWithScores(ctx, key, &redis.ZRangeBy{
			Min: "(" + strconv.FormatInt(e.ms-dayMs, 10), Max: strconv.FormatInt(e.ms, 10)})
		return nil
	})
	if err != nil {
		return err
	}
	f := computeRedisFeatures(e, rng.Val())
	if f.count[3] < 1 || f.sum24h < e.amount {
		return errBadCount
	}
	return nil
}

// redisFeatureSet is what the client computes from the 24h range, as the
// store's default definitions do.
type redisFeatureSet struct {
	count             [4]int64 // 1m, 5m, 1h, 24h
	sum1h, sum24h     int64
	failed10m         int64
	distinctMerchants int
	secondsSincePrev  float64
}

func computeRedisFeatures(e redisEvent, zs []redis.Z) redisFeatureSet {
	f := redisFeatureSet{secondsSincePrev: -1}
	const tenMin = int64(10 * time.Minute / time.Millisecond)
	merchants := make(map[string]struct{}, 4)
	prev := int64(-1)
	for _, z := range zs {
		ms := int64(z.Score)
		m, _ := z.Member.(string)
		parts := strings.SplitN(m, "|", 4)
		if len(parts) != 4 {
			continue
		}
		amount, _ := strconv.ParseInt(parts[1], 10, 64)
		age := e.ms - ms
		for i, w := range countWindowsMs {
			if age < w {
				f.count[i]++
			}
		}
		f.sum24h += amount
		if age < int64(time.Hour/time.Millisecond) {
			f.sum1h += amount
			merchants[parts[2]] = struct{}{}
		}
		if age < tenMin && (parts[3] == "declined" || parts[3] == "failed") {
			f.failed10m++
		}
		if parts[0] != e.id && ms <= e.ms && ms > prev {
			prev = ms
		}
	}
	f.distinctMerchants = len(merchants)
	if prev >= 0 {
		f.secondsSincePrev = float64(e.ms-prev) / 1000
	}
	return f
}

type benchError string

func (e benchError) Error() string { return string(e) }

const errBadCount = benchError("redis returned a count that misses the event just added")

// deleteRedisPrefix removes the keys of one run.
func deleteRedisPrefix(b *testing.B, c *redis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 10000).Iterator()
	var batch []string
	flush := func() {
		if len(batch) > 0 {
			if err := c.Unlink(ctx, batch...).Err(); err != nil {
				b.Logf("redis cleanup: %v", err)
			}
			batch = batch[:0]
		}
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			flush()
		}
	}
	flush()
	if err := iter.Err(); err != nil {
		b.Logf("redis cleanup: %v", err)
	}
}
