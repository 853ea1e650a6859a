package backfill_test

import (
	"context"
	"io"
	"testing"

	"github.com/fraudscore/scorer/backfill"
	"github.com/fraudscore/scorer/features"
)

// benchmarkBackfill runs the whole job on path: read, decompress, parse,
// validate, sort, compute and write Parquet (to a discarding writer).
func benchmarkBackfill(b *testing.B, path string) {
	set := features.Default()
	ctx := context.Background()
	var rows int
	for b.Loop() {
		src, err := backfill.OpenFile(path)
		if err != nil {
			b.Fatal(err)
		}
		log, _, err := backfill.Read(ctx, src, backfill.ReadOptions{MaxInvalid: -1})
		src.Close()
		if err != nil {
			b.Fatal(err)
		}
		t, err := backfill.Compute(ctx, set, log)
		if err != nil {
			b.Fatal(err)
		}
		if rows, err = backfill.WriteParquet(io.Discard, t); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkBackfillSample is the whole job on the 7,184-row sample.
func BenchmarkBackfillSample(b *testing.B) {
	benchmarkBackfill(b, sparkov(b, "transactions.jsonl"))
}

// BenchmarkBackfillTrain is the whole job on the 1.24M-row training log.
func BenchmarkBackfillTrain(b *testing.B) {
	benchmarkBackfill(b, sparkov(b, "train.jsonl.gz"))
}
