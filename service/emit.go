package service

import (
	"encoding/json"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/kv"
	"github.com/fraudscore/scorer/outbox"
	"github.com/fraudscore/scorer/velocity"
)

// Outbox prefixes of closed windows and late events.
const (
	windowsPrefix = kv.PrefixWindows
	latePrefix    = kv.PrefixLate
)

// emitter publishes closed windows to the windows topic and copies of
// events late for a closed window to the late topic, each through its
// outbox. It implements velocity.Emitter.
type emitter struct {
	windows, late *outbox.Outbox
}

var _ velocity.Emitter = (*emitter)(nil)

// windowMessage is the JSON of a closed window on the windows topic.
type windowMessage struct {
	Feature     string    `json:"feature"`
	Entity      string    `json:"entity"`
	EntityType  string    `json:"entity_type"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Value       float64   `json:"value"`
	Count       int       `json:"count"`
}

var jsonHeader = []kafka.Header{{Key: "content-type", Value: []byte("application/json")}}

func (e *emitter) ClosedWindow(w velocity.ClosedWindow) velocity.Entry {
	body, _ := json.Marshal(windowMessage{Feature: w.Feature, Entity: w.Value, EntityType: w.Entity,
		WindowStart: w.Start, WindowEnd: w.End, Value: w.Result, Count: w.Count})
	return e.windows.Entry(outbox.Message{ID: w.ID(), Key: []byte(w.Value), Value: body, Headers: jsonHeader})
}

func (e *emitter) LateEvent(tx *fraud.Transaction) velocity.Entry {
	body, _ := json.Marshal(tx)
	return e.late.Entry(outbox.Message{ID: tx.ID, Key: []byte(tx.CardID), Value: body, Headers: jsonHeader})
}

func (e *emitter) Committed(entries []velocity.Entry) {
	var ws, ls []velocity.Entry
	for _, en := range entries {
		if len(en.Key) > 0 && en.Key[0] == windowsPrefix {
			ws = append(ws, en)
		} else {
			ls = append(ls, en)
		}
	}
	if len(ws) > 0 {
		e.windows.Committed(ws)
	}
	if len(ls) > 0 {
		e.late.Committed(ls)
	}
}
