package kv_test

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/fraudscore/scorer/kv"
)

func options(dir string) badger.Options {
	return badger.DefaultOptions(dir).WithLogger(nil).WithDetectConflicts(false)
}

func open(t *testing.T, dir string) *badger.DB {
	t.Helper()
	db, err := kv.Open(options(dir))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func committer(t *testing.T, db *badger.DB, opt kv.CommitterOptions) *kv.Committer {
	t.Helper()
	c, err := kv.NewCommitter(db, opt)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func get(t *testing.T, db *badger.DB, key string) (string, bool) {
	t.Helper()
	var v []byte
	err := db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(key))
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(v), true
}

func TestNewCommitterRefusesADBNotInManagedMode(t *testing.T) {
	db, err := badger.Open(options(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := kv.NewCommitter(db, kv.CommitterOptions{}); err == nil {
		t.Fatal("NewCommitter on a DB opened with badger.Open: no error, want one (managed mode is needed)")
	}
}

// A reopened DB's commits must take timestamps above the stored ones, or a
// new value would sort below the old one and never be read.
func TestTimestampsContinueAcrossAReopen(t *testing.T) {
	dir := t.TempDir()
	for i, want := range []string{"first", "second", "third"} {
		db := open(t, dir)
		c := committer(t, db, kv.CommitterOptions{})
		if i == 1 {
			b := kv.NewBatch()
			b.Set([]byte("k"), []byte(want), 0)
			if err := c.CommitNow(b); err != nil {
				t.Fatal(err)
			}
			b.Release()
		} else if err := c.Write([]kv.Entry{{Key: []byte("k"), Value: []byte(want)}}, nil); err != nil {
			t.Fatal(err)
		}
		got, _ := get(t, db, "k")
		c.Close()
		db.Close()
		if got != want {
			t.Fatalf("run %d read %q, want %q", i, got, want)
		}
	}
}

func TestGroupEntryIsWrittenWithTheGroup(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	var told []string
	var mu sync.Mutex
	c := committer(t, db, kv.CommitterOptions{
		GroupEntry: func() (kv.Entry, bool) {
			return kv.Entry{Key: []byte("meta"), Value: []byte("with the group")}, true
		},
		GroupEntryCommitted: func(e kv.Entry) {
			mu.Lock()
			told = append(told, string(e.Value))
			mu.Unlock()
		},
	})
	if err := c.Write([]kv.Entry{{Key: []byte("a"), Value: []byte("1")}}, nil); err != nil {
		t.Fatal(err)
	}
	c.Close() // waits for the callbacks
	if v, ok := get(t, db, "meta"); !ok || v != "with the group" {
		t.Errorf("group entry = %q, %v; want it written", v, ok)
	}
	if len(told) != 1 || told[0] != "with the group" {
		t.Errorf("GroupEntryCommitted was told %q, want the entry once", told)
	}
}

func TestWriteGateRefusesTheGroup(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	full := errors.New("disk nearly full")
	var errs []error
	var mu sync.Mutex
	c := committer(t, db, kv.CommitterOptions{
		WriteGate:  func(int) error { return full },
		WriteError: func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() },
	})
	defer c.Close()
	err := c.Write([]kv.Entry{{Key: []byte("a"), Value: []byte("1")}}, nil)
	if !errors.Is(err, kv.ErrNotWritable) || !errors.Is(err, full) {
		t.Fatalf("Write with the gate shut = %v, want ErrNotWritable wrapping the gate's error", err)
	}
	if _, ok := get(t, db, "a"); ok {
		t.Error("a refused write reached Badger")
	}
	b := kv.NewBatch()
	defer b.Release()
	b.Set([]byte("setup"), []byte("1"), 0)
	if err := c.CommitNow(b); err != nil {
		t.Errorf("CommitNow with the gate shut = %v, want it written (CommitNow skips the gate)", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 0 {
		t.Errorf("WriteError told %v; a refusal is not a failed commit", errs)
	}
}

func TestCommitAfterCloseIsErrClosed(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	c := committer(t, db, kv.CommitterOptions{})
	c.Close()
	c.Close() // a second Close is harmless
	if err := c.Write(nil, [][]byte{[]byte("a")}); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}
}

func TestKeysYieldsThePrefixsKeysInOrder(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	c := committer(t, db, kv.CommitterOptions{})
	var puts []kv.Entry
	for _, k := range []string{"b2", "a1", "b1", "c1", "b3"} {
		puts = append(puts, kv.Entry{Key: []byte(k), Value: []byte("value")})
	}
	if err := c.Write(puts, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(nil, [][]byte{[]byte("b3")}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	var got []string
	for k, err := range kv.Keys(db, []byte("b")) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(k))
	}
	if want := []string{"b1", "b2"}; !slices.Equal(got, want) {
		t.Errorf("keys under b = %q, want %q", got, want)
	}
	got = got[:0]
	for k, err := range kv.Keys(db, nil) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(k))
		if len(got) == 2 {
			break
		}
	}
	if want := []string{"a1", "b1"}; !slices.Equal(got, want) {
		t.Errorf("first two keys = %q, want %q", got, want)
	}
}

func TestKeysYieldsTheReadsError(t *testing.T) {
	db := open(t, t.TempDir())
	db.Close()
	n := 0
	for k, err := range kv.Keys(db, nil) {
		n++
		if !errors.Is(err, badger.ErrDBClosed) || k != nil {
			t.Errorf("Keys on a closed DB yielded %q, %v; want nil, ErrDBClosed", k, err)
		}
	}
	if n != 1 {
		t.Errorf("Keys on a closed DB yielded %d times, want once", n)
	}
}
