//go:build race

package backpressure

const raceEnabled = true
