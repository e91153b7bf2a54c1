// Package resources is Mesos's resource algebra over []*mesospb.Resource.
//
// It mirrors Mesos's Resources class (src/common/resources.cpp): text and
// JSON parsing of --resources, addition and subtraction that merge
// "addable" resources (same name, type, reservation stack, allocation role,
// disk, revocability, provider), containment, reservation filters, the
// pre-/post-reservation-refinement format conversions, and the text and
// legacy JSON map forms used by logs and /state.
//
// Representation. A Resources value is a plain slice; every operation
// returns a fresh, normalised slice and never mutates its inputs (the
// *mesospb.Resource messages are cloned). Normalised means: mergeable
// resources are merged into one entry, empty ones are dropped, scalars are
// rounded to Mesos's 3-decimal fixed point, ranges are sorted and
// coalesced and set items are unique. Operations assume the internal
// ("post-refinement") format, where reservations live in the Reservations
// stack; convert client input with FromPreRefinement first.
//
// Shared resources (persistent volumes with SharedInfo) are counted by
// keeping one entry per copy rather than Mesos's separate share counter.
// Indivisible disks (persistent volumes, MOUNT/BLOCK/RAW sources) never merge
// and are subtracted or contained only whole.
//
// The package is pure: no I/O, no goroutines, no clocks.
package resources
