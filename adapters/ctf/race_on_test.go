//go:build race

package ctf

// The race detector slows XML decoding about twentyfold; the memory test
// streams fewer pupils under it.
const raceEnabled = true
