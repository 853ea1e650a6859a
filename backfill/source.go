package backfill

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// Source is where Read takes records from, in order: a file (OpenFile)
// or a Kafka topic (OpenTopic).
type Source interface {
	// Next replaces b's contents with the next records and returns io.EOF
	// once there are none. It may reuse b's buffers.
	Next(ctx context.Context, b *Block) error
	Close() error
}

// Block is a run of consecutive records of a Source. Each record is a JSON
// document in the service's transaction schema.
type Block struct {
	// Lines holds records one a line (JSONL); blank lines are no records.
	Lines []byte
	// Records holds one record an element (Kafka message values, which may
	// span lines).
	Records [][]byte
	// Invalid holds, for each record the source could not turn into a
	// document (a CSV row of the wrong width, say), why; each counts as
	// an invalid record.
	Invalid []string
}

func (b *Block) reset() {
	b.Lines = b.Lines[:0]
	clear(b.Records)
	b.Records = b.Records[:0]
	b.Invalid = b.Invalid[:0]
}

// blockSize is about how many bytes of records a Block holds.
const blockSize = 1 << 20

// maxLine bounds one line of a JSONL file: a longer one is no transaction.
const maxLine = 16 << 20

// OpenFile opens a file of transactions by its name's extension: .jsonl
// and .jsonl.gz (one JSON transaction a line), .csv (a header row naming
// the schema's fields, then one transaction a row; event_time in RFC 3339)
// and .parquet (columns named for the schema's fields; event_time as an
// RFC 3339 string or a timestamp).
func OpenFile(path string) (Source, error) {
	lower := strings.ToLower(path)
	switch {
	case strings.HasSuffix(lower, ".jsonl"), strings.HasSuffix(lower, ".json"), strings.HasSuffix(lower, ".ndjson"):
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		return &lineSource{r: f, c: f}, nil
	case strings.HasSuffix(lower, ".jsonl.gz"), strings.HasSuffix(lower, ".json.gz"), strings.HasSuffix(lower, ".ndjson.gz"):
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		z, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &lineSource{r: z, c: multiCloser{z, f}}, nil
	case strings.HasSuffix(lower, ".csv"):
		return openCSV(path)
	case strings.HasSuffix(lower, ".parquet"):
		return openParquet(path)
	}
	return nil, fmt.Errorf("%s: unknown input format: want .jsonl, .jsonl.gz, .csv or .parquet", path)
}

type multiCloser []io.Closer

func (m multiCloser) Close() error {
	var errs []error
	for _, c := range m {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// lineSource reads JSONL, a block of whole lines at a time.
type lineSource struct {
	r     io.Reader
	c     io.Closer
	carry []byte // the start of a line cut by the end of the last read
	eof   bool
}

func (s *lineSource) Next(ctx context.Context, b *Block) error {
	b.reset()
	if err := ctx.Err(); err != nil {
		return err
	}
	buf := append(b.Lines, s.carry...)
	s.carry = s.carry[:0]
	if cap(buf) < blockSize+4096 {
		buf = append(make([]byte, 0, blockSize+4096), buf...)
	}
	for !s.eof {
		if len(buf) == cap(buf) {
			if len(buf) >= maxLine && !hasNewline(buf) {
				return fmt.Errorf("a line longer than %d MiB: not a JSONL file?", maxLine>>20)
			}
			buf = append(buf, 0)[:len(buf)] // grow: the block holds one long line
		}
		n, err := s.r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			s.eof = true
			break
		}
		if err != nil {
			return err
		}
		if len(buf) >= blockSize && hasNewline(buf[len(buf)-n:]) {
			break
		}
	}
	if !s.eof {
		cut := lastNewline(buf) + 1
		s.carry = append(s.carry, buf[cut:]...)
		buf = buf[:cut]
	}
	b.Lines = buf
	if len(buf) == 0 {
		return io.EOF
	}
	return nil
}

func hasNewline(b []byte) bool { return bytes.IndexByte(b, '\n') >= 0 }

func lastNewline(b []byte) int { return bytes.LastIndexByte(b, '\n') }

func (s *lineSource) Close() error { return s.c.Close() }
