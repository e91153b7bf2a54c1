package codec

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
)

func TestParseContentType(t *testing.T) {
	tests := []struct {
		header  string
		want    MediaType
		wantErr error
	}{
		{"application/json", JSON, nil},
		{"application/x-protobuf", Protobuf, nil},
		{"application/recordio", RecordIO, nil},
		{"application/json; charset=utf-8", JSON, nil},
		{"  Application/JSON ;charset=UTF-8", JSON, nil},
		{"application/x-protobuf;proto=mesos.v1.scheduler.Call", Protobuf, nil},
		{"", "", ErrMissingContentType},
		{"   ", "", ErrMissingContentType},
		{"text/plain", "", ErrUnsupportedMediaType},
		{"application/jsonx", "", ErrUnsupportedMediaType},
		{"application/*", "", ErrUnsupportedMediaType},
	}
	for _, tt := range tests {
		got, err := ParseContentType(tt.header)
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("ParseContentType(%q) = %q, %v; want %q, %v", tt.header, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		accept string
		want   MediaType
		ok     bool
	}{
		{"", JSON, true},
		{"*/*", JSON, true},
		{"application/*", JSON, true},
		{"application/json", JSON, true},
		{"application/x-protobuf", Protobuf, true},
		{"Application/X-Protobuf", Protobuf, true},
		{"text/html, application/x-protobuf;q=0.1", Protobuf, true},
		{"application/json, application/x-protobuf", JSON, true},
		{"application/x-protobuf, application/json", JSON, true},
		{"application/json;q=0.5, application/x-protobuf", JSON, true},
		{"application/x-protobuf;q=0.4, application/json;q=0.9", JSON, true},
		{"application/json;q=0, */*", Protobuf, true},
		{"application/x-protobuf;q=0, application/*", JSON, true},
		{"*/*;q=0.1, application/x-protobuf", JSON, true},
		{"application/x-protobuf, */*", JSON, true},
		{"*/*, application/x-protobuf", JSON, true}, // exact range beats the wildcard's position
		{"text/html", "", false},
		{"text/*", "", false},
		{"application/json;q=0", "", false},
		{"application/json;q=0, application/x-protobuf;q=0.000", "", false},
		{"*/*;q=0", "", false},
		{"application/recordio", "", false},
		{"application/json;q=nonsense", "", false},
		{"application/json;q=NaN", "", false},
		{"application/json;q=2", "", false},
		{"garbage, application/json", JSON, true},
		{"application/json;charset=utf-8;q=0.8", JSON, true},
	}
	for _, tt := range tests {
		got, ok := Negotiate(tt.accept)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Negotiate(%q) = %q, %v; want %q, %v", tt.accept, got, ok, tt.want, tt.ok)
		}
	}
}

func TestAccepts(t *testing.T) {
	tests := []struct {
		accept string
		mt     MediaType
		want   bool
	}{
		{"", RecordIO, true},
		{"application/recordio", RecordIO, true},
		{"application/*", RecordIO, true},
		{"*/*", RecordIO, true},
		{"application/json", RecordIO, false},
		{"application/recordio;q=0", RecordIO, false},
		{"application/recordio;q=0, */*", RecordIO, false},
		{"text/html", JSON, false},
		{"application/x-protobuf", Protobuf, true},
	}
	for _, tt := range tests {
		if got := Accepts(tt.accept, tt.mt); got != tt.want {
			t.Errorf("Accepts(%q, %q) = %v, want %v", tt.accept, tt.mt, got, tt.want)
		}
	}
}

func subscribeCall() *schedulerpb.Call {
	return &schedulerpb.Call{
		Type: schedulerpb.Call_SUBSCRIBE.Enum(),
		Subscribe: &schedulerpb.Call_Subscribe{
			FrameworkInfo: &mesospb.FrameworkInfo{
				User:  proto.String("foo"),
				Name:  proto.String("Example HTTP Framework"),
				Roles: []string{"test"},
				Capabilities: []*mesospb.FrameworkInfo_Capability{
					{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()},
				},
			},
		},
	}
}

func TestMarshalUnmarshal(t *testing.T) {
	for _, mt := range []MediaType{JSON, Protobuf} {
		t.Run(string(mt), func(t *testing.T) {
			in := subscribeCall()
			data, err := Marshal(mt, in)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			got := &schedulerpb.Call{}
			if err := Unmarshal(mt, data, got); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			want := subscribeCall()
			if mt == JSON {
				// Defaults are written out by the JSON dialect.
				want.Subscribe.FrameworkInfo.FailoverTimeout = proto.Float64(0)
				want.Subscribe.FrameworkInfo.Checkpoint = proto.Bool(false)
			}
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMarshalUnmarshalErrors(t *testing.T) {
	missing := &schedulerpb.Call{Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: &mesospb.FrameworkInfo{User: proto.String("u")}}}
	for _, mt := range []MediaType{JSON, Protobuf} {
		_, err := Marshal(mt, missing)
		if !errors.Is(err, ErrMissingRequired) {
			t.Errorf("Marshal(%s, missing name) = %v, want %v", mt, err, ErrMissingRequired)
		}
	}
	partial, err := proto.MarshalOptions{AllowPartial: true}.Marshal(missing)
	if err != nil {
		t.Fatal(err)
	}
	err = Unmarshal(Protobuf, partial, &schedulerpb.Call{})
	if !errors.Is(err, ErrMissingRequired) {
		t.Fatalf("Unmarshal(partial) = %v, want %v", err, ErrMissingRequired)
	}
	if want := "codec: missing required fields: subscribe.framework_info.name"; err.Error() != want {
		t.Errorf("Unmarshal(partial) error = %q, want %q", err, want)
	}
	if err := Unmarshal(Protobuf, []byte{0xff, 0xff}, &schedulerpb.Call{}); err == nil {
		t.Errorf("Unmarshal(garbage) succeeded")
	}
	if _, err := Marshal(RecordIO, missing); !errors.Is(err, ErrUnsupportedMediaType) {
		t.Errorf("Marshal(RecordIO) = %v, want %v", err, ErrUnsupportedMediaType)
	}
	if err := Unmarshal("text/plain", nil, &schedulerpb.Call{}); !errors.Is(err, ErrUnsupportedMediaType) {
		t.Errorf("Unmarshal(text/plain) = %v, want %v", err, ErrUnsupportedMediaType)
	}
}
