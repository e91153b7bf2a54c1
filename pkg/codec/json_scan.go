package codec

import (
	"encoding/json"
	"unicode/utf8"
)

// jkind is the kind of the JSON value at a scanner's position.
type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

// scanner walks a JSON document that json.Valid has accepted, one value at
// a time, without building a tree. Its methods never panic on valid input;
// on anything else they stop at the end of the data.
type scanner struct {
	data []byte
	pos  int
	last any // the last scalar value read, for error messages
}

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// kind returns the kind of the next value.
func (s *scanner) kind() jkind {
	s.ws()
	if s.pos >= len(s.data) {
		return jNull
	}
	switch s.data[s.pos] {
	case '{':
		return jObject
	case '[':
		return jArray
	case '"':
		return jString
	case 't', 'f':
		return jBool
	case 'n':
		return jNull
	}
	return jNumber
}

// object calls member for each key of the object at the position, with
// the scanner at the member's value; member must consume the value. key
// is the raw (still escaped) text of the key, valid during the call.
func (s *scanner) object(member func(key []byte) error) error {
	s.ws()
	s.pos++ // {
	for {
		key, ok := s.nextKey('}')
		if !ok {
			return nil
		}
		if err := member(key); err != nil {
			return err
		}
	}
}

// array calls elem for each element of the array at the position, with the
// scanner at the element; elem must consume it.
func (s *scanner) array(elem func(i int) error) error {
	s.ws()
	s.pos++ // [
	for i := 0; ; i++ {
		s.ws()
		if s.pos >= len(s.data) || s.data[s.pos] == ']' {
			s.pos++
			return nil
		}
		if s.data[s.pos] == ',' {
			s.pos++
		}
		if err := elem(i); err != nil {
			return err
		}
	}
}

// rawString consumes the string at the position and returns its text
// between the quotes, and whether it holds escapes.
func (s *scanner) rawString() (raw []byte, escaped bool) {
	s.ws()
	s.pos++ // opening quote
	start := s.pos
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case '\\':
			escaped = true
			s.pos += 2
			continue
		case '"':
			raw = s.data[start:s.pos]
			s.pos++
			return raw, escaped
		}
		s.pos++
	}
	return s.data[start:min(s.pos, len(s.data))], escaped
}

// keyString returns the text of an object key as rawString gave it.
func (s *scanner) keyString(raw []byte) (string, error) {
	return unquote(raw)
}

// unquote returns the string a JSON string's raw text denotes: escapes
// resolved and invalid UTF-8 replaced, as encoding/json does.
func unquote(raw []byte) (string, error) {
	simple := utf8.Valid(raw)
	for _, c := range raw {
		if c == '\\' || c < 0x20 {
			simple = false
			break
		}
	}
	if simple {
		return string(raw), nil
	}
	q := make([]byte, 0, len(raw)+2)
	q = append(q, '"')
	q = append(q, raw...)
	q = append(q, '"')
	var str string
	if err := json.Unmarshal(q, &str); err != nil {
		return "", err
	}
	return str, nil
}

// value consumes the value at the position and returns it as
// encoding/json with UseNumber would for a scalar (nil, bool, json.Number,
// string); an array or object is skipped and stands as a nil []any or
// map[string]any.
func (s *scanner) value() any {
	switch s.kind() {
	case jObject:
		s.skip()
		return map[string]any(nil)
	case jArray:
		s.skip()
		return []any(nil)
	case jString:
		raw, _ := s.rawString()
		str, err := unquote(raw)
		if err != nil {
			return string(raw)
		}
		return str
	case jBool:
		if s.data[s.pos] == 't' {
			s.pos += len("true")
			return true
		}
		s.pos += len("false")
		return false
	case jNull:
		s.pos += len("null")
		return nil
	}
	start := s.pos
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			s.pos++
			continue
		}
		break
	}
	if s.pos == start { // not a JSON value: never on valid input
		s.pos = len(s.data)
		return nil
	}
	return json.Number(s.data[start:s.pos])
}

// describeValue consumes the value at the position for an error message.
func (s *scanner) describeValue() any { return s.value() }

// skip consumes the value at the position.
func (s *scanner) skip() {
	switch s.kind() {
	case jString:
		s.rawString()
	case jObject, jArray:
		depth := 0
		for s.pos < len(s.data) {
			switch s.data[s.pos] {
			case '"':
				s.rawString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.pos++
					return
				}
			}
			s.pos++
		}
	default: // a number, true, false or null: skipped without converting it
		for s.pos < len(s.data) {
			switch s.data[s.pos] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return
			}
			s.pos++
		}
	}
}

// nextKey moves past the next comma, key and colon of the object the
// scanner is in and returns the key's raw text; at the object's end (the
// byte end) it moves past it and returns false.
func (s *scanner) nextKey(end byte) ([]byte, bool) {
	s.ws()
	if s.pos >= len(s.data) || s.data[s.pos] == end {
		s.pos++
		return nil, false
	}
	if s.data[s.pos] == ',' {
		s.pos++
		s.ws()
	}
	key, _ := s.rawString()
	s.ws()
	s.pos++ // :
	return key, true
}

// nextElem moves to the next element of the array the scanner is in; at
// the array's end it moves past it and returns false.
func (s *scanner) nextElem() bool {
	s.ws()
	if s.pos >= len(s.data) || s.data[s.pos] == ']' {
		s.pos++
		return false
	}
	if s.data[s.pos] == ',' {
		s.pos++
	}
	return true
}
