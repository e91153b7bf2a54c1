package codec

import "google.golang.org/protobuf/reflect/protoreflect"

// TypesHolding walks the message types reachable from md and reports which
// of them can hold, at any depth, a field that leaf accepts: a fixpoint over
// the type graph (types may be recursive). A field holding messages (a
// list, or a map by its values) leads to its message type. It returns the
// reachable types, md first, and the names of those that can hold one; the
// decode checks (required fields here, finite floats in internal/finite)
// build from it a per-type plan of the fields worth visiting.
func TypesHolding(md protoreflect.MessageDescriptor, leaf func(protoreflect.FieldDescriptor) bool) ([]protoreflect.MessageDescriptor, map[protoreflect.FullName]bool) {
	var all []protoreflect.MessageDescriptor
	seen := map[protoreflect.FullName]bool{}
	var visit func(protoreflect.MessageDescriptor)
	visit = func(d protoreflect.MessageDescriptor) {
		if seen[d.FullName()] {
			return
		}
		seen[d.FullName()] = true
		all = append(all, d)
		fields := d.Fields()
		for i := range fields.Len() {
			if sub := FieldMessage(fields.Get(i)); sub != nil {
				visit(sub)
			}
		}
	}
	visit(md)
	holds := map[protoreflect.FullName]bool{}
	for changed := true; changed; {
		changed = false
		for _, d := range all {
			if holds[d.FullName()] {
				continue
			}
			fields := d.Fields()
			for i := range fields.Len() {
				fd := fields.Get(i)
				if leaf(fd) || HoldsAny(fd, holds) {
					holds[d.FullName()] = true
					changed = true
					break
				}
			}
		}
	}
	return all, holds
}

// HoldsAny reports whether fd holds messages of a type in holds.
func HoldsAny(fd protoreflect.FieldDescriptor, holds map[protoreflect.FullName]bool) bool {
	sub := FieldMessage(fd)
	return sub != nil && holds[sub.FullName()]
}

// FieldMessage is the message type a field holds (a map's: its values'),
// or nil.
func FieldMessage(fd protoreflect.FieldDescriptor) protoreflect.MessageDescriptor {
	if fd.IsMap() {
		fd = fd.MapValue()
	}
	if k := fd.Kind(); k == protoreflect.MessageKind || k == protoreflect.GroupKind {
		return fd.Message()
	}
	return nil
}
