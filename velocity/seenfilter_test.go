package velocity

import (
	"fmt"
	"testing"
	"time"
)

func TestSeenFilter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t.Run("an added id may be contained, most others are not", func(t *testing.T) {
		f := newSeenFilter(time.Hour, 4)
		f.add("a", now)
		if !f.mayContain("a", now) {
			t.Fatal("an added id is reported unseen")
		}
		fp := 0
		for i := range 1000 {
			if f.mayContain(fmt.Sprint("other", i), now) {
				fp++
			}
		}
		if fp > 50 {
			t.Errorf("%d of 1000 unseen ids reported maybe-seen", fp)
		}
	})
	t.Run("dropping a generation early distrusts negatives for a retention", func(t *testing.T) {
		f := newSeenFilter(time.Hour, 2)
		f.genCap = 10
		for i := range 30 { // three generations into a chain of two
			f.add(fmt.Sprint("id", i), now)
		}
		if !f.mayContain("never-added", now.Add(59*time.Minute)) {
			t.Error("a negative was trusted although ids were forgotten within retention")
		}
		if f.mayContain("never-added", now.Add(61*time.Minute)) {
			t.Error("negatives still distrusted after the retention passed")
		}
	})
	t.Run("generations past retention are dropped without distrust", func(t *testing.T) {
		f := newSeenFilter(time.Hour, 2)
		f.genCap = 10
		for i := range 10 {
			f.add(fmt.Sprint("old", i), now)
		}
		later := now.Add(2 * time.Hour)
		for i := range 15 {
			f.add(fmt.Sprint("new", i), later)
		}
		if f.mayContain("never-added", later) && f.mayContain("never-added-2", later) {
			t.Error("negatives distrusted after dropping only expired generations")
		}
	})
}
