package kv

// Key prefixes. Every key in the database starts with one byte that says
// whose it is, so that a package loads its keys with one prefix iteration
// and never reads another's. They are all declared here, so that two
// packages cannot pick the same byte: listing one twice in owners is a
// compile error (duplicate index), and TestPrefixesDistinct checks that
// every constant below is listed. Key layouts are documented where the
// keys are built.
const (
	PrefixEvent    byte = 'v' // velocity: an entity's events
	PrefixSeen     byte = 's' // velocity: the seen-transactions index
	PrefixMeta     byte = 'm' // velocity: store metadata (stream time, feature sets)
	PrefixWindow   byte = 'w' // velocity: tumbling and session windows waiting to close
	PrefixExcluded byte = 'x' // velocity: events left out of a window closed before they came
	PrefixAlerts   byte = 'o' // alerts: the outbox of alerts
	PrefixWindows  byte = 'W' // service: the outbox of closed windows
	PrefixLate     byte = 'L' // service: the outbox of events late for a closed window
)

// owners names the owner of each prefix in use.
var owners = [256]string{
	PrefixEvent:    "velocity events",
	PrefixSeen:     "velocity seen index",
	PrefixMeta:     "velocity metadata",
	PrefixWindow:   "velocity windows",
	PrefixExcluded: "velocity window exclusions",
	PrefixAlerts:   "alerts outbox",
	PrefixWindows:  "windows outbox",
	PrefixLate:     "late events outbox",
}

// Owner returns what the keys under prefix p are, or "" for a byte no
// package uses.
func Owner(p byte) string { return owners[p] }
