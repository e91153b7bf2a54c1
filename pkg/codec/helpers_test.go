package codec

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// withDefaults returns a copy of m in which every unset field that
// MarshalJSON writes out with its default value is set to it: the message
// that decoding m's JSON encoding must produce.
func withDefaults(m proto.Message) proto.Message {
	c := proto.Clone(m)
	fillDefaults(c.ProtoReflect())
	return c
}

func fillDefaults(m protoreflect.Message) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsList():
			if isMessage(fd) && m.Has(fd) {
				l := m.Get(fd).List()
				for j := range l.Len() {
					fillDefaults(l.Get(j).Message())
				}
			}
		case fd.IsMap():
			if isMessage(fd.MapValue()) && m.Has(fd) {
				m.Get(fd).Map().Range(func(_ protoreflect.MapKey, v protoreflect.Value) bool {
					fillDefaults(v.Message())
					return true
				})
			}
		case isMessage(fd):
			if m.Has(fd) {
				fillDefaults(m.Get(fd).Message())
			}
		case !m.Has(fd) && emitsDefault(fd):
			m.Set(fd, fd.Default())
		}
	}
}
