package httpapi

import (
	"net/http"
	"strconv"
)

// BodyHeld is how much of an answer a Body holds before it starts sending:
// an answer that ends within it is sent whole with its Content-Length, as
// any other; a larger one (/state at thousands of agents) is sent as it is
// encoded, chunked, and never held in memory whole.
const BodyHeld = 1 << 20

// Body is the body of a 200 answer written piece by piece (Write), ended
// by Close. Up to BodyHeld bytes it holds the pieces, and Close writes them
// with "Content-Length"; past that it writes the status and headers
// without a length (chunked transfer encoding) and then each piece as it
// comes. Mesos builds every answer whole and always sends its length; an
// HTTP/1.1 client reads either.
type Body struct {
	w       http.ResponseWriter
	status  int
	held    []byte
	started bool
	err     error
}

// NewBody starts an answer of status on w; the caller has set its
// headers other than Content-Length.
func NewBody(w http.ResponseWriter, status int) *Body {
	return &Body{w: w, status: status}
}

// Write holds or sends p; it does not keep p after it returns. After a
// failed write (the client went away) every write fails with that error.
func (b *Body) Write(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if !b.started {
		if len(b.held)+len(p) <= BodyHeld {
			if b.held == nil {
				b.held = make([]byte, 0, min(BodyHeld, max(4096, 2*len(p))))
			}
			b.held = append(b.held, p...)
			return len(p), nil
		}
		b.started = true
		b.w.WriteHeader(b.status)
		if len(b.held) > 0 {
			if _, b.err = b.w.Write(b.held); b.err != nil {
				return 0, b.err
			}
			b.held = nil
		}
	}
	var n int
	n, b.err = b.w.Write(p)
	return n, b.err
}

// Close sends what is held, with its length, if nothing was sent yet.
func (b *Body) Close() error {
	if b.err != nil || b.started {
		return b.err
	}
	b.started = true
	b.w.Header().Set("Content-Length", strconv.Itoa(len(b.held)))
	b.w.WriteHeader(b.status)
	_, b.err = b.w.Write(b.held)
	b.held = nil
	return b.err
}
