// DuckDB baseline for `scorer backfill`: the six sliding-window aggregates
// per card (transaction counts over 1m, 5m, 1h and 24h, amount sums over 1h
// and 24h) of a JSONL transaction log, computed with SQL window functions
// and written to Parquet (zstd), timed. See docs/BENCHMARKS.md.
//
//   mkdir -p /tmp/duckdb && (cd /tmp/duckdb && npm install @duckdb/node-api)
//   gunzip -c ../shared/data/sparkov/train.jsonl.gz > /tmp/train.jsonl
//   NODE_PATH=/tmp/duckdb/node_modules node bench/duckdb_backfill.mjs /tmp/train.jsonl /tmp/duckdb_train.parquet
//
// Windows: RANGE BETWEEN INTERVAL w PRECEDING AND CURRENT ROW covers
// [t-w, t], where the service's sliding windows cover (t-w, t]: the two
// differ for events exactly w apart. card_id is not written: the log's
// card ids are card numbers (the backfill writes tokens instead), and
// leaving the column out only spares DuckDB work. event_time is read as
// TIMESTAMP (the log is in UTC), which DuckDB orders faster than TIMESTAMPTZ.
import { createRequire } from 'node:module';
import path from 'node:path';

// NODE_PATH is not consulted by ES module imports; resolve through it.
const require = createRequire(path.join(process.env.NODE_PATH || process.cwd(), 'noop.js'));
const { DuckDBInstance } = require('@duckdb/node-api');

const [input = '/tmp/train.jsonl', output = '/tmp/duckdb_train.parquet', threads = '2'] = process.argv.slice(2);
const lit = (s) => `'${s.replaceAll("'", "''")}'`;

const started = performance.now();
const db = await DuckDBInstance.create(':memory:', { threads });
const conn = await db.connect();
const window = (size) => `(PARTITION BY card_id ORDER BY event_time RANGE BETWEEN INTERVAL ${size} PRECEDING AND CURRENT ROW)`;
const sql = `
COPY (
  SELECT transaction_id, event_time,
    count(*)    OVER w1m  AS card_tx_count_1m,
    count(*)    OVER w5m  AS card_tx_count_5m,
    count(*)    OVER w1h  AS card_tx_count_1h,
    count(*)    OVER w24h AS card_tx_count_24h,
    sum(amount) OVER w1h  AS card_amount_sum_1h,
    sum(amount) OVER w24h AS card_amount_sum_24h
  FROM read_json(${lit(input)}, format = 'newline_delimited',
    columns = {transaction_id: 'VARCHAR', card_id: 'VARCHAR', amount: 'BIGINT', event_time: 'TIMESTAMP'})
  WINDOW w1m AS ${window("1 MINUTE")}, w5m AS ${window("5 MINUTES")},
         w1h AS ${window("1 HOUR")}, w24h AS ${window("24 HOURS")}
) TO ${lit(output)} (FORMAT parquet, COMPRESSION zstd)`;
const queryStart = performance.now();
const result = await conn.run(sql);
const rows = Number(result.rowsChanged ?? 0);
const done = performance.now();
const secs = (done - queryStart) / 1000;
console.log(`duckdb ${threads} threads: ${rows} rows in ${secs.toFixed(3)} s (${Math.round(rows / secs)} rows/s); ` +
  `${((done - started) / 1000).toFixed(3)} s with start-up`);
conn.closeSync();
