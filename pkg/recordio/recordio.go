// Package recordio implements Mesos's RecordIO framing, the record format of
// every streaming response of the v1 HTTP APIs (the scheduler's and the
// executor's SUBSCRIBE streams, the operator API's SUBSCRIBE, and agent
// streaming calls).
//
// A stream is a sequence of records. A record is the payload length as ASCII
// decimal digits, a '\n', then exactly that many bytes of payload. There is no
// delimiter after the payload: the next length starts immediately. A length of
// zero is invalid. For example, one JSON HEARTBEAT event is framed as
//
//	20\n{"type":"HEARTBEAT"}
//
// HTTP chunk boundaries carry no meaning; a [Reader] parses the de-chunked
// byte stream. (Mesos: docs/recordio.md, 3rdparty/libprocess recordio.hpp.)
//
// A [Reader] is safe against hostile input: it never reads more than a fixed
// number of length digits, rejects records larger than its maximum record size,
// and grows its buffer as payload bytes actually arrive rather than trusting
// the announced length.
package recordio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// DefaultMaxRecordSize is the record size limit a [Reader] applies when none is
// given.
const DefaultMaxRecordSize = 64 << 20 // 64 MiB

// maxLengthDigits bounds the length prefix: a uint64 has at most 20 decimal
// digits, so anything longer cannot be a valid length.
const maxLengthDigits = 20

// allocStep is the most a Reader allocates ahead of payload bytes it has
// actually received.
const allocStep = 1 << 20

var (
	// ErrRecordTooLarge is returned (wrapped) by [Reader.ReadRecord] when a
	// record's announced length exceeds the reader's maximum record size.
	ErrRecordTooLarge = errors.New("recordio: record too large")
	// ErrMalformed is returned (wrapped, with detail) by [Reader.ReadRecord]
	// when the length prefix is not a valid non-zero decimal number followed
	// by '\n'.
	ErrMalformed = errors.New("recordio: malformed record")
	// ErrEmptyRecord is returned by [Writer.WriteRecord] for an empty
	// payload: zero-length records are invalid in Mesos RecordIO.
	ErrEmptyRecord = errors.New("recordio: empty record")
)

// Writer frames payloads as RecordIO records onto an underlying writer.
// A Writer is not safe for concurrent use.
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer that writes records to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w}
}

// combineLimit is the largest payload copied next to its header so that a
// record reaches the underlying writer in a single Write call.
const combineLimit = 64 << 10

// WriteRecord writes p as one record. It returns [ErrEmptyRecord] if p is
// empty, since Mesos never sends (and rejects) zero-length records.
func (w *Writer) WriteRecord(p []byte) error {
	if len(p) == 0 {
		return ErrEmptyRecord
	}
	w.buf = strconv.AppendInt(w.buf[:0], int64(len(p)), 10)
	w.buf = append(w.buf, '\n')
	if len(p) <= combineLimit {
		w.buf = append(w.buf, p...)
		_, err := w.w.Write(w.buf)
		if len(w.buf) > 2*combineLimit {
			w.buf = nil // do not pin an unusually large buffer
		}
		return err
	}
	if _, err := w.w.Write(w.buf); err != nil {
		return err
	}
	_, err := w.w.Write(p)
	return err
}

// Encode returns p framed as one record. An empty p is not a valid record, so
// Encode returns nil for it (nothing to send).
func Encode(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	out := make([]byte, 0, len(p)+maxLengthDigits+1)
	out = strconv.AppendInt(out, int64(len(p)), 10)
	out = append(out, '\n')
	return append(out, p...)
}

// Reader reads RecordIO records from an underlying reader. A Reader is not
// safe for concurrent use.
type Reader struct {
	r   *bufio.Reader
	max int
	err error // sticky: once framing is lost the stream cannot be resynchronised
}

// NewReader returns a Reader reading from r that rejects records longer than
// maxRecordSize bytes. A maxRecordSize <= 0 means [DefaultMaxRecordSize].
func NewReader(r io.Reader, maxRecordSize int) *Reader {
	if maxRecordSize <= 0 {
		maxRecordSize = DefaultMaxRecordSize
	}
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	return &Reader{r: br, max: maxRecordSize}
}

// ReadRecord returns the next record's payload. The returned slice is newly
// allocated and owned by the caller.
//
// It returns io.EOF when the stream ends cleanly between records,
// io.ErrUnexpectedEOF when it ends inside a record, an error wrapping
// [ErrMalformed] for an invalid length prefix and one wrapping
// [ErrRecordTooLarge] for an oversized record. Errors other than a clean
// io.EOF are sticky: later calls return the same error.
func (r *Reader) ReadRecord() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	p, err := r.read()
	if err != nil {
		r.err = err
	}
	return p, err
}

func (r *Reader) read() ([]byte, error) {
	n, err := r.readLength()
	if err != nil {
		return nil, err
	}
	if n > uint64(r.max) {
		return nil, fmt.Errorf("%w: length %d exceeds limit %d", ErrRecordTooLarge, n, r.max)
	}
	size := int(n)
	buf := make([]byte, 0, min(size, allocStep))
	for len(buf) < size {
		if len(buf) == cap(buf) {
			// Grow only as data arrives, so a lying length prefix costs at
			// most allocStep bytes beyond what the peer actually sent.
			nb := make([]byte, len(buf), min(size, cap(buf)+max(cap(buf), allocStep)))
			copy(nb, buf)
			buf = nb
		}
		m, err := io.ReadFull(r.r, buf[len(buf):min(size, cap(buf))])
		buf = buf[:len(buf)+m]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}

// readLength reads the decimal length prefix and its terminating '\n'.
func (r *Reader) readLength() (uint64, error) {
	var (
		n      uint64
		digits int
	)
	for {
		c, err := r.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if digits == 0 {
					return 0, io.EOF
				}
				return 0, io.ErrUnexpectedEOF
			}
			return 0, err
		}
		switch {
		case c == '\n':
			if digits == 0 {
				return 0, fmt.Errorf("%w: empty length prefix", ErrMalformed)
			}
			if n == 0 {
				return 0, fmt.Errorf("%w: zero-length record", ErrMalformed)
			}
			return n, nil
		case c >= '0' && c <= '9':
			digits++
			if digits > maxLengthDigits {
				return 0, fmt.Errorf("%w: length prefix longer than %d digits", ErrMalformed, maxLengthDigits)
			}
			d := uint64(c - '0')
			if n > (^uint64(0)-d)/10 {
				return 0, fmt.Errorf("%w: length prefix overflows uint64", ErrMalformed)
			}
			n = n*10 + d
		default:
			return 0, fmt.Errorf("%w: unexpected byte %q in length prefix", ErrMalformed, c)
		}
	}
}
