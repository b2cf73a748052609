package main

import "testing"

// TestSpinStopsOnce: a command stops its spinner when the step is done and
// again in a deferred call on its way out (replay does both); the second
// stop must do nothing rather than panic after the work succeeded.
func TestSpinStopsOnce(t *testing.T) {
	for _, stops := range []int{1, 2, 3} {
		stop := spin("rebuilding")
		for range stops {
			stop()
		}
	}
}
