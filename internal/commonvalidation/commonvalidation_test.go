package commonvalidation

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
)

func TestCommandInfo(t *testing.T) {
	value := func(s string) *mesospb.Secret {
		return &mesospb.Secret{Type: mesospb.Secret_VALUE.Enum(), Value: &mesospb.Secret_Value{Data: []byte(s)}}
	}
	variable := func(name string, typ mesospb.Environment_Variable_Type, v *string, s *mesospb.Secret) *mesospb.Environment_Variable {
		return &mesospb.Environment_Variable{Name: proto.String(name), Type: typ.Enum(), Value: v, Secret: s}
	}
	for _, tc := range []struct {
		name string
		v    *mesospb.Environment_Variable
		want string
	}{
		{"value", variable("A", mesospb.Environment_Variable_VALUE, proto.String("1"), nil), ""},
		{"unset type is VALUE", &mesospb.Environment_Variable{Name: proto.String("A"), Value: proto.String("1")}, ""},
		{"secret", variable("S", mesospb.Environment_Variable_SECRET, nil, value("x")), ""},
		{"value without value", variable("A", mesospb.Environment_Variable_VALUE, nil, nil),
			"Environment variable 'A' of type 'VALUE' must have a value set"},
		{"value with secret", variable("A", mesospb.Environment_Variable_VALUE, proto.String("1"), value("x")),
			"Environment variable 'A' of type 'VALUE' must not have a secret set"},
		{"secret without secret", variable("S", mesospb.Environment_Variable_SECRET, nil, nil),
			"Environment variable 'S' of type 'SECRET' must have a secret set"},
		{"secret with value", variable("S", mesospb.Environment_Variable_SECRET, proto.String("1"), value("x")),
			"Environment variable 'S' of type 'SECRET' must not have a value set"},
		{"invalid secret", variable("S", mesospb.Environment_Variable_SECRET, nil, &mesospb.Secret{Type: mesospb.Secret_VALUE.Enum()}),
			"Environment variable 'S' specifies an invalid secret: Secret of type VALUE must have the 'value' field set"},
		{"reference with value", variable("S", mesospb.Environment_Variable_SECRET, nil, &mesospb.Secret{
			Type: mesospb.Secret_REFERENCE.Enum(), Reference: &mesospb.Secret_Reference{Name: proto.String("db")}, Value: &mesospb.Secret_Value{}}),
			"Environment variable 'S' specifies an invalid secret: Secret 'db' of type REFERENCE must not have the 'value' field set"},
		{"null byte", variable("S", mesospb.Environment_Variable_SECRET, nil, value("a\x00b")),
			"Environment variable 'S' specifies a secret containing null bytes, which is not allowed in the environment"},
		{"unknown", variable("U", mesospb.Environment_Variable_UNKNOWN, proto.String("1"), nil),
			"Environment variable of type 'UNKNOWN' is not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CommandInfo(&mesospb.CommandInfo{Environment: &mesospb.Environment{Variables: []*mesospb.Environment_Variable{tc.v}}})
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
