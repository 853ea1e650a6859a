// Package backfill computes the features of a log of transactions in
// batch, with the same definitions and the same code (features.Log) as the
// online velocity store, so that a training table holds the values the
// service answered: Read takes the records of a file or a Kafka topic
// (OpenFile, OpenTopic), Compute the features of each transaction as of
// its event time, and WriteParquet or WriteCSV the table.
//
//	src, err := backfill.OpenFile("train.jsonl.gz")
//	txs, stats, err := backfill.Read(ctx, src, backfill.ReadOptions{MaxInvalid: -1})
//	table, err := backfill.Compute(ctx, features.Default(), txs)
//	n, err := backfill.WriteParquet(f, table)
package backfill
