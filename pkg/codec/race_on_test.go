//go:build race

package codec

// raceEnabled: the race detector slows decoding tenfold, so the large-body
// tests decode smaller bodies under it (the bytes per byte are the same).
const raceEnabled = true
