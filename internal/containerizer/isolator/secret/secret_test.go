package secret

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/containerizer"
)

func variable(name string, s *mesospb.Secret) *mesospb.Environment_Variable {
	return &mesospb.Environment_Variable{Name: proto.String(name), Type: mesospb.Environment_Variable_SECRET.Enum(), Secret: s}
}

func TestPrepare(t *testing.T) {
	value := func(data string) *mesospb.Secret {
		return &mesospb.Secret{Type: mesospb.Secret_VALUE.Enum(), Value: &mesospb.Secret_Value{Data: []byte(data)}}
	}
	reference := &mesospb.Secret{Type: mesospb.Secret_REFERENCE.Enum(), Reference: &mesospb.Secret_Reference{Name: proto.String("db")}}
	tests := []struct {
		name    string
		vars    []*mesospb.Environment_Variable
		want    []string
		wantErr string
	}{
		{"none", []*mesospb.Environment_Variable{{Name: proto.String("A"), Value: proto.String("1")}}, nil, ""},
		{"by value", []*mesospb.Environment_Variable{variable("PASSWORD", value("hunter2"))}, []string{"PASSWORD=hunter2"}, ""},
		{"by reference", []*mesospb.Environment_Variable{variable("DB", reference)}, nil,
			"Default secret resolver cannot resolve references"},
		{"a value without one", []*mesospb.Environment_Variable{variable("X", &mesospb.Secret{Type: mesospb.Secret_VALUE.Enum()})}, nil,
			"Invalid secret specified in environment 'X': Secret of type VALUE must have the 'value' field set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := containerizer.ContainerConfig{CommandInfo: &mesospb.CommandInfo{Environment: &mesospb.Environment{Variables: tc.vars}}}
			li, err := EnvironmentSecret{}.Prepare(t.Context(), cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Prepare = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			if li != nil {
				got = li.Env
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("environment (-want +got):\n%s", diff)
			}
		})
	}
}
