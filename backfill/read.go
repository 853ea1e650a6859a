package backfill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"sync"

	"github.com/fraudscore/scorer/fraud"
)

// Stats counts what Read did with a source's records.
type Stats struct {
	Records    int64            // records read (blank lines are none)
	Invalid    int64            // records skipped as invalid
	Reasons    map[string]int64 // invalid records by "field: problem"; a record may have several
	Duplicates int64            // valid records whose transaction_id came before
	Tokens     int64            // card numbers in identifiers replaced by tokens
}

// Valid is how many distinct transactions Read returned.
func (s Stats) Valid() int64 { return s.Records - s.Invalid - s.Duplicates }

// ReasonsByCount returns the invalid reasons, most frequent first.
func (s Stats) ReasonsByCount() []string {
	keys := slices.Sorted(maps.Keys(s.Reasons))
	slices.SortStableFunc(keys, func(a, b string) int { return int(s.Reasons[b] - s.Reasons[a]) })
	return keys
}

func (s *Stats) add(o *Stats) {
	s.Records += o.Records
	s.Invalid += o.Invalid
	s.Duplicates += o.Duplicates
	s.Tokens += o.Tokens
	for k, v := range o.Reasons {
		if s.Reasons == nil {
			s.Reasons = map[string]int64{}
		}
		s.Reasons[k] += v
	}
}

// ReadOptions tunes Read.
type ReadOptions struct {
	// MaxInvalid, when >= 0, is how many invalid records Read tolerates:
	// one more and it stops with an error wrapping ErrTooManyInvalid. A
	// negative value means no limit.
	MaxInvalid int64
	// Workers decode records in parallel [runtime.GOMAXPROCS].
	Workers int
	// Progress, when set, is called from Read's goroutine after each block
	// of records with the number read so far.
	Progress func(records int64)
}

// ErrTooManyInvalid is the error Read wraps when more records than
// ReadOptions.MaxInvalid are invalid.
var ErrTooManyInvalid = errors.New("too many invalid records")

// Read reads every record of src and returns the distinct valid
// transactions in the order read. Each record is validated as
// fraud.DecodeTransaction does (with a zero Limits: only event_time's fixed
// floor and ceiling apply), after card numbers in its transaction_id,
// card_id, merchant_id and device_id were replaced by fraud.Tokenize's
// tokens: the public Sparkov data's card ids are card numbers, which the
// service refuses and which must not reach any output. Invalid records
// are skipped and counted by reason (never shown); of records with the
// same transaction_id, the first counts and the others are counted as
// duplicates. It returns early, with what it has, when ctx ends, src
// fails or there are too many invalid records.
func Read(ctx context.Context, src Source, o ReadOptions) (*Log, Stats, error) {
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Blocks go from the source to the decoders (jobs) and, in order, to
	// this goroutine (order), which adds their rows to the log.
	// Jobs and their buffers are used over and over.
	inFlight := 2*workers + 2
	free := make(chan *readJob, inFlight)
	for range inFlight {
		free <- &readJob{b: &Block{}}
	}
	jobs := make(chan *readJob, inFlight)
	order := make(chan *readJob, inFlight)
	var wg sync.WaitGroup
	var srcErr error
	wg.Go(func() {
		defer close(order)
		defer close(jobs)
		for {
			var j *readJob
			select {
			case j = <-free:
			case <-ctx.Done():
				return
			}
			if err := src.Next(ctx, j.b); err != nil {
				if err != io.EOF {
					srcErr = err
				}
				return
			}
			j.done = make(chan struct{})
			order <- j // never blocks: there are no more jobs than that
			jobs <- j
		}
	})
	for w := range workers {
		wg.Go(func() {
			d := newDecoder()
			for j := range jobs {
				j.worker = w
				j.decode(d)
				close(j.done)
			}
		})
	}

	var st Stats
	l := NewLog()
	trans := make([][numDict][]uint32, workers) // per worker: its ids to the log's
	var err error
	for j := range order {
		<-j.done // workers finish every job they take, whatever ctx says
		if err != nil {
			continue // draining
		}
		st.add(&j.stats)
		tr := &trans[j.worker]
		for f := range numDict {
			if tr[f] == nil {
				tr[f] = []uint32{0}
			}
			for _, s := range j.news[f] {
				tr[f] = append(tr[f], l.intern(field(f), s))
			}
		}
		for i := range j.rows {
			r := &j.rows[i]
			for f := range numDict {
				r.f[f] = tr[f][r.f[f]]
			}
			off, n := r.id>>8, r.id&0xff
			l.pushUnchecked(r, j.ids[off:off+n])
		}
		j.reset()
		free <- j
		if o.Progress != nil {
			o.Progress(st.Records)
		}
		if o.MaxInvalid >= 0 && st.Invalid > o.MaxInvalid {
			err = fmt.Errorf("%w: more than %d", ErrTooManyInvalid, o.MaxInvalid)
			cancel()
		}
	}
	wg.Wait()
	st.Duplicates = int64(l.dedupe())
	if err == nil {
		err = srcErr
	}
	if err == nil {
		err = ctx.Err()
	}
	return l, st, err
}

// readJob is one block on its way through the decoders.
type readJob struct {
	b      *Block
	done   chan struct{}
	worker int
	rows   []row
	ids    []byte            // the rows' transaction ids
	news   [numDict][]string // the worker's dictionary entries first used here
	stats  Stats
}

func (j *readJob) decode(d *decoder) {
	b := j.b
	tokens := d.tokens
	for _, why := range b.Invalid {
		j.stats.Records++
		j.invalid(why)
	}
	if b.Lines != nil {
		if n := bytes.Count(b.Lines, []byte{'\n'}) + 1; cap(j.rows) < n {
			j.rows = make([]row, 0, n)
			j.ids = make([]byte, 0, 40*n)
		}
		for rest := b.Lines; len(rest) > 0; {
			line := rest
			if i := bytes.IndexByte(rest, '\n'); i >= 0 {
				line, rest = rest[:i], rest[i+1:]
			} else {
				rest = nil
			}
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			j.record(d, line)
		}
	}
	for _, rec := range b.Records {
		j.record(d, rec)
	}
	j.stats.Tokens = d.tokens - tokens
	j.news = d.takeNews()
}

// reset readies j for another block.
func (j *readJob) reset() {
	j.rows, j.ids = j.rows[:0], j.ids[:0]
	j.news = [numDict][]string{}
	j.stats = Stats{}
}

func (j *readJob) record(d *decoder, rec []byte) {
	j.stats.Records++
	j.rows = append(j.rows, row{})
	err := d.decode(rec, &j.rows[len(j.rows)-1], &j.ids)
	if err == nil {
		return
	}
	j.rows = j.rows[:len(j.rows)-1]
	var ve *fraud.ValidationError
	if !errors.As(err, &ve) {
		j.invalid("record: could not be decoded")
		return
	}
	j.stats.Invalid++
	if j.stats.Reasons == nil {
		j.stats.Reasons = map[string]int64{}
	}
	for _, fe := range ve.Errors {
		j.stats.Reasons[fe.Field+": "+fe.Message]++
	}
}

func (j *readJob) invalid(why string) {
	j.stats.Invalid++
	if j.stats.Reasons == nil {
		j.stats.Reasons = map[string]int64{}
	}
	j.stats.Reasons[why]++
}
