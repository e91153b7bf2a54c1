package recordio

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func TestWriter(t *testing.T) {
	tests := []struct {
		name    string
		records []string
		want    string
	}{
		{"none", nil, ""},
		{"one", []string{`{"type":"HEARTBEAT"}`}, "20\n{\"type\":\"HEARTBEAT\"}"},
		{"two", []string{"a", "hello"}, "1\na5\nhello"},
		{"utf8 counts bytes", []string{"é"}, "2\né"},
		{"large", []string{strings.Repeat("x", combineLimit+1)}, "65537\n" + strings.Repeat("x", combineLimit+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf)
			var enc []byte
			for _, r := range tt.records {
				if err := w.WriteRecord([]byte(r)); err != nil {
					t.Fatalf("WriteRecord(%q): %v", r, err)
				}
				enc = append(enc, Encode([]byte(r))...)
			}
			if diff := cmp.Diff(tt.want, buf.String()); diff != "" {
				t.Errorf("Writer output mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, string(enc)); diff != "" {
				t.Errorf("Encode output mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriterEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := NewWriter(&buf).WriteRecord(nil); !errors.Is(err, ErrEmptyRecord) {
		t.Errorf("WriteRecord(nil) = %v, want %v", err, ErrEmptyRecord)
	}
	if buf.Len() != 0 {
		t.Errorf("WriteRecord(nil) wrote %q", buf.String())
	}
	if got := Encode(nil); got != nil {
		t.Errorf("Encode(nil) = %q, want nil", got)
	}
}

func TestWriterError(t *testing.T) {
	boom := errors.New("boom")
	for _, size := range []int{1, combineLimit + 1} {
		w := NewWriter(errWriter{boom})
		if err := w.WriteRecord(make([]byte, size)); !errors.Is(err, boom) {
			t.Errorf("WriteRecord(%d bytes) = %v, want %v", size, err, boom)
		}
	}
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

func TestReader(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		max     int
		want    []string
		wantErr error // error after the records in want
	}{
		{name: "empty stream", input: "", want: nil, wantErr: io.EOF},
		{name: "one", input: "20\n{\"type\":\"HEARTBEAT\"}", want: []string{`{"type":"HEARTBEAT"}`}, wantErr: io.EOF},
		{name: "several", input: "1\na5\nhello3\n\n\n\n", want: []string{"a", "hello", "\n\n\n"}, wantErr: io.EOF},
		{name: "leading zeros", input: "003\nabc", want: []string{"abc"}, wantErr: io.EOF},
		{name: "exactly max", input: "4\nabcd", max: 4, want: []string{"abcd"}, wantErr: io.EOF},
		{name: "too large", input: "5\nabcde", max: 4, wantErr: ErrRecordTooLarge},
		{name: "too large default", input: "67108865\n", wantErr: ErrRecordTooLarge},
		{name: "zero length", input: "0\n", wantErr: ErrMalformed},
		{name: "empty length", input: "\nabc", wantErr: ErrMalformed},
		{name: "non digit", input: "1a\nx", wantErr: ErrMalformed},
		{name: "negative", input: "-1\nx", wantErr: ErrMalformed},
		{name: "whitespace", input: " 1\nx", wantErr: ErrMalformed},
		{name: "crlf", input: "1\r\nx", wantErr: ErrMalformed},
		{name: "too many digits", input: strings.Repeat("0", 21) + "1\nx", wantErr: ErrMalformed},
		{name: "overflow", input: "99999999999999999999\n", wantErr: ErrMalformed},
		{name: "eof in length", input: "12", wantErr: io.ErrUnexpectedEOF},
		{name: "eof after newline", input: "3\n", wantErr: io.ErrUnexpectedEOF},
		{name: "eof in payload", input: "1\na5\nhel", want: []string{"a"}, wantErr: io.ErrUnexpectedEOF},
		{name: "trailing garbage", input: "1\nax", want: []string{"a"}, wantErr: ErrMalformed},
		{name: "trailing digits", input: "1\na7", want: []string{"a"}, wantErr: io.ErrUnexpectedEOF},
		{name: "malformed after good", input: "1\na}", want: []string{"a"}, wantErr: ErrMalformed},
		{name: "lying length", input: "60000000\nshort", wantErr: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		for _, wrap := range []struct {
			name string
			fn   func(io.Reader) io.Reader
		}{
			{"plain", func(r io.Reader) io.Reader { return r }},
			{"onebyte", iotest.OneByteReader},
			{"half", iotest.HalfReader},
		} {
			t.Run(tt.name+"/"+wrap.name, func(t *testing.T) {
				r := NewReader(wrap.fn(strings.NewReader(tt.input)), tt.max)
				var got []string
				var err error
				for {
					var p []byte
					p, err = r.ReadRecord()
					if err != nil {
						break
					}
					got = append(got, string(p))
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("records mismatch (-want +got):\n%s", diff)
				}
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("final error = %v, want %v", err, tt.wantErr)
				}
				// Errors are sticky.
				if _, err2 := r.ReadRecord(); !errors.Is(err2, tt.wantErr) {
					t.Errorf("second error = %v, want %v", err2, tt.wantErr)
				}
			})
		}
	}
}

func TestReaderUnderlyingError(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name  string
		input string
	}{
		{"before length", ""},
		{"in length", "12"},
		{"in payload", "5\nab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(io.MultiReader(strings.NewReader(tt.input), iotest.ErrReader(boom)), 0)
			if _, err := r.ReadRecord(); !errors.Is(err, boom) {
				t.Errorf("ReadRecord() = %v, want %v", err, boom)
			}
		})
	}
}

// TestReaderLargeRecord checks records bigger than the allocation step.
func TestReaderLargeRecord(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 3*allocStep/10+7)
	var buf bytes.Buffer
	if err := NewWriter(&buf).WriteRecord(payload); err != nil {
		t.Fatal(err)
	}
	got, err := NewReader(&buf, 0).ReadRecord()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Errorf("large record mismatch: got %d bytes, want %d", len(got), len(payload))
	}
}

// FuzzReader feeds arbitrary bytes to a Reader (it must not panic and must
// stop with an error) and checks the round-trip property: records written by
// a Writer are read back unchanged.
func FuzzReader(f *testing.F) {
	f.Add([]byte("20\n{\"type\":\"HEARTBEAT\"}"), []byte("x"), uint8(0))
	f.Add([]byte("0\n"), []byte("hello\nworld"), uint8(3))
	f.Add([]byte("99999999999999999999999\n"), []byte{}, uint8(1))
	f.Add([]byte("3\nab"), []byte("1\n"), uint8(255))
	f.Fuzz(func(t *testing.T, raw, payload []byte, split uint8) {
		const max = 1 << 16
		// Arbitrary input: must terminate without panicking.
		r := NewReader(bytes.NewReader(raw), max)
		for i := 0; ; i++ {
			p, err := r.ReadRecord()
			if err != nil {
				break
			}
			if len(p) == 0 || len(p) > max {
				t.Fatalf("record %d has invalid length %d", i, len(p))
			}
			if i > len(raw) {
				t.Fatalf("more records than input bytes")
			}
		}

		// Round trip: split payload into records and read them back.
		var records [][]byte
		for rest := payload; len(rest) > 0; {
			n := min(len(rest), int(split)+1)
			records = append(records, rest[:n])
			rest = rest[n:]
		}
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, rec := range records {
			if err := w.WriteRecord(rec); err != nil {
				t.Fatalf("WriteRecord: %v", err)
			}
		}
		rr := NewReader(iotest.HalfReader(&buf), 0)
		var got [][]byte
		for {
			p, err := rr.ReadRecord()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("ReadRecord: %v", err)
			}
			got = append(got, p)
		}
		if diff := cmp.Diff(records, got); diff != "" {
			t.Fatalf("round trip mismatch (-want +got):\n%s", diff)
		}
	})
}
