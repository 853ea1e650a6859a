package velocity

import (
	"context"
	"encoding/binary"

	"github.com/fraudscore/scorer/kv"
)

// ErrNotWritable wraps the error of Options.WriteGate when it refuses a
// group commit: nothing of it reached Badger.
var ErrNotWritable = kv.ErrNotWritable

// streamTimeEntry is the stream time to write with a group commit, when it
// moved since it was last written.
func (s *Store) streamTimeEntry() (kv.Entry, bool) {
	st := s.streamTime.Load()
	if st == s.persisted.Load() || st == noTime {
		return kv.Entry{}, false
	}
	return kv.Entry{Key: keyStreamTime, Value: binary.BigEndian.AppendUint64(nil, uint64(st))}, true
}

// streamTimeCommitted is told a stream time entry once it is in Badger.
func (s *Store) streamTimeCommitted(e kv.Entry) {
	s.persisted.Store(int64(binary.BigEndian.Uint64(e.Value)))
}

// Write stores puts and deletes in one Badger transaction through the
// group committer, for other state kept beside the velocity state (the
// alert outbox). It returns once they are in Badger.
func (s *Store) Write(ctx context.Context, puts []Entry, deletes [][]byte) error {
	return s.kv.Write(puts, deletes)
}
