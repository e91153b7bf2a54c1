// Package codec holds the media types of Mesos's v1 HTTP APIs, Accept-header
// negotiation, and the two message encodings every v1 endpoint speaks:
// binary protobuf (proto2 wire format) and the Mesos JSON dialect.
//
// The Mesos JSON dialect is what stout's JSON<->protobuf conversion produces
// and accepts (3rdparty/stout/include/stout/protobuf.hpp). It is not proto3
// JSON: keys are proto field names (snake_case), 64-bit integers are JSON
// numbers, unset fields that declare a [default = ...] are written out, and
// parsing is lenient in the ways real clients rely on. [MarshalJSON] and
// [UnmarshalJSON] implement it generically over protoreflect, so they work for
// any message; see their doc comments for the exact rules.
//
// Both [Unmarshal] encodings enforce proto2 required fields and report the
// path of each missing field; error texts are meant to be returned to clients
// in 400 response bodies.
package codec

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
)

// MediaType is an HTTP media type without parameters.
type MediaType string

// The media types of Mesos's v1 HTTP APIs.
const (
	// JSON is a message in the Mesos JSON dialect.
	JSON MediaType = "application/json"
	// Protobuf is a binary (proto2 wire format) message.
	Protobuf MediaType = "application/x-protobuf"
	// RecordIO is a stream of records whose type is given separately (by
	// the Message-Accept / Message-Content-Type headers); Mesos uses it only
	// for agent streaming calls.
	RecordIO MediaType = "application/recordio"
)

var (
	// ErrMissingContentType is returned by [ParseContentType] for an empty
	// header.
	ErrMissingContentType = errors.New("codec: missing content type")
	// ErrUnsupportedMediaType is returned (wrapped) for a media type that is
	// not one of the known ones, or that cannot encode messages.
	ErrUnsupportedMediaType = errors.New("codec: unsupported media type")
)

// ParseContentType parses a Content-Type header value into one of [JSON],
// [Protobuf] or [RecordIO]. Parameters such as "; charset=utf-8" are ignored
// and the comparison is case-insensitive. (Mesos compares the whole header
// exactly; being lenient here only accepts more clients.)
func ParseContentType(header string) (MediaType, error) {
	mt, _, _ := strings.Cut(header, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch MediaType(mt) {
	case "":
		return "", ErrMissingContentType
	case JSON, Protobuf, RecordIO:
		return MediaType(mt), nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnsupportedMediaType, header)
}

// Marshal encodes m as mt, which must be [JSON] or [Protobuf]. Required
// fields must be set.
func Marshal(mt MediaType, m proto.Message) ([]byte, error) {
	switch mt {
	case JSON:
		return MarshalJSON(m)
	case Protobuf:
		return marshalProtobuf(m, minParallel)
	}
	return nil, fmt.Errorf("%w: cannot marshal a message as %q", ErrUnsupportedMediaType, mt)
}

// Unmarshal decodes data, encoded as mt ([JSON] or [Protobuf]), into m,
// replacing its contents. Missing proto2 required fields are an error that
// names each missing field's path. A body denoting a message larger than
// [DefaultBudget] allows is refused before decoding, with a [*BudgetError];
// see [UnmarshalOptions] for another budget.
func Unmarshal(mt MediaType, data []byte, m proto.Message) error {
	return UnmarshalOptions{}.Unmarshal(mt, data, m)
}
