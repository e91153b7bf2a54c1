package operator

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/tlsconfig"
	"github.com/meso-project/meso/pkg/tlsconfig/tlstest"
)

// TestTLSFromLibprocessEnv: with LIBPROCESS_SSL_* on, the client speaks
// https to a host:port master, verifying it and showing its own
// certificate, as Mesos's tools do.
func TestTLSFromLibprocessEnv(t *testing.T) {
	p := tlstest.New(t, "operator")
	tc, err := tlsconfig.FromEnv(tlstest.Lookup(p.Env(nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "TLS with a client certificate required", http.StatusForbidden)
			return
		}
		_, _ = io.ReadAll(r.Body)
		b, _ := codec.Marshal(codec.Protobuf, &masterpb.Response{Type: masterpb.Response_GET_STATE.Enum(),
			GetState: &masterpb.Response_GetState{}})
		w.Write(b)
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(tc.Listen(ln)) }()
	defer func() { srv.Close(); <-done }()

	c, err := New(Config{Master: ln.Addr().String(), TLS: tc})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GetState(t.Context()); err != nil {
		t.Fatalf("GetState over TLS: %v", err)
	}
	if l, _ := c.Leader(t.Context()); !strings.HasPrefix(l, "https://") {
		t.Errorf("Leader() = %q, want https://", l)
	}
	plain, _ := New(Config{Master: ln.Addr().String()})
	defer plain.Close()
	if _, err := plain.GetState(t.Context()); err == nil {
		t.Error("a plain http client got an answer from a TLS-only master")
	}
}
