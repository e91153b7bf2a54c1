package httpapi

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/recordio"
)

// Stream is a 200 OK chunked response of RecordIO-framed messages, the
// transport of every v1 SUBSCRIBE (scheduler, executor, operator and agent
// streams). Send writes a message and flushes it at once, so that events
// reach the client without buffering; SendAll does so for a batch with one
// flush. Both are safe for concurrent use; messages are never interleaved.
type Stream struct {
	mu sync.Mutex
	w  http.ResponseWriter
	rc *http.ResponseController
	mt codec.MediaType
	rw *recordio.Writer
}

// NewStream starts a stream of messages encoded as mt (JSON or protobuf): it
// writes the 200 status with "Content-Type: mt" and any extra headers (e.g.
// Mesos-Stream-Id), then flushes so the client sees the response start.
// Without a Content-Length, net/http sends it with chunked transfer encoding.
func NewStream(w http.ResponseWriter, mt codec.MediaType, header http.Header) (*Stream, error) {
	s, err := NewStreamHeld(w, mt, header)
	if err != nil {
		return nil, err
	}
	if err := s.rc.Flush(); err != nil {
		return nil, fmt.Errorf("httpapi: flush stream headers: %w", err)
	}
	return s, nil
}

// NewStreamHeld is NewStream without the flush: the status and headers go
// out with the first messages the caller flushes, in one write to the
// socket instead of two. For a caller that has a first message ready (an
// agent's REGISTERED); it must flush soon, even with nothing to send, as
// the client waits for the response to start.
func NewStreamHeld(w http.ResponseWriter, mt codec.MediaType, header http.Header) (*Stream, error) {
	if mt != codec.JSON && mt != codec.Protobuf {
		return nil, fmt.Errorf("httpapi: cannot stream messages as %q: %w", mt, codec.ErrUnsupportedMediaType)
	}
	h := w.Header()
	for k, vs := range header {
		h[k] = append([]string(nil), vs...)
	}
	h.Del("Content-Length")
	h.Set("Content-Type", string(mt))
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	return &Stream{w: w, rc: http.NewResponseController(w), mt: mt, rw: recordio.NewWriter(w)}, nil
}

// Send encodes m, writes it as one record and flushes it. An error means the
// message could not be encoded or the client is gone; the caller should end
// the stream (return from the handler).
func (s *Stream) Send(m proto.Message) error {
	if err := s.Write(m); err != nil {
		return err
	}
	return s.Flush()
}

// Write encodes m and writes it as one record without flushing: a writer
// draining a queue of events writes them all, then calls Flush once (one
// write to the socket for the batch instead of one per event).
func (s *Stream) Write(m proto.Message) error {
	b, err := codec.Marshal(s.mt, m)
	if err != nil {
		return fmt.Errorf("httpapi: encode stream message: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.rw.WriteRecord(b); err != nil {
		return fmt.Errorf("httpapi: write stream message: %w", err)
	}
	return nil
}

// Flush sends what was written to the client.
func (s *Stream) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("httpapi: flush stream message: %w", err)
	}
	return nil
}

// SendAll writes every message and flushes once; see Write.
func SendAll[T proto.Message](s *Stream, ms []T) error {
	for _, m := range ms {
		if err := s.Write(m); err != nil {
			return err
		}
	}
	if len(ms) == 0 {
		return nil
	}
	return s.Flush()
}

// Abort makes a Send blocked on a client that does not read (and every
// later one) fail at once, so that its writer can end the stream. It is
// safe to call from any goroutine, also during Send.
func (s *Stream) Abort() {
	_ = s.rc.SetWriteDeadline(time.Unix(1, 0))
}

// MediaType returns the encoding of the stream's messages.
func (s *Stream) MediaType() codec.MediaType { return s.mt }
