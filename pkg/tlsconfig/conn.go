package tlsconfig

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ErrVerify marks a peer certificate that failed verification.
var ErrVerify = errors.New("tlsconfig: peer certificate verification failed")

// peekTimeout bounds how long a downgrade-capable listener waits for a new
// connection's first bytes before dropping it.
const peekTimeout = 10 * time.Second

func defaultLookupAddr(ip string) ([]string, error) { return net.LookupAddr(ip) }

// base is the tls.Config shared by both sides. Verification is done by
// verifyPeer, never by crypto/tls, because libprocess's rules (verify
// depth, the legacy reverse-DNS hostname scheme, IP checks only with
// VERIFY_IPADD) are not Go's.
func (c *Config) base() *tls.Config {
	return &tls.Config{
		Certificates:       []tls.Certificate{c.cert},
		MinVersion:         c.MinVersion,
		MaxVersion:         c.MaxVersion,
		CipherSuites:       c.suites,
		CurvePreferences:   c.curves,
		InsecureSkipVerify: true, // see verifyPeer
		NextProtos:         []string{"http/1.1"},
	}
}

// ServerTLS returns the configuration for a server's accepted connections;
// nil when TLS is off.
func (c *Config) ServerTLS() *tls.Config {
	if !c.On() {
		return nil
	}
	t := c.base()
	if c.RequireClientCert {
		t.ClientAuth = tls.RequireAnyClientCert
		t.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			pc := c.base()
			pc.ClientAuth = tls.RequireAnyClientCert
			peer := hostOf(hello.Conn.RemoteAddr())
			pc.VerifyConnection = func(cs tls.ConnectionState) error {
				return c.verifyPeer(cs, "", peer, x509.ExtKeyUsageClientAuth)
			}
			return pc, nil
		}
	}
	return t
}

// ClientTLS returns the configuration for a connection to addr
// ("host:port" as dialled) whose remote IP is peerIP; nil when TLS is off.
func (c *Config) ClientTLS(addr, peerIP string) *tls.Config {
	if !c.On() {
		return nil
	}
	t := c.base()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if net.ParseIP(host) == nil {
		t.ServerName = host
	}
	if c.VerifyServerCert {
		t.VerifyConnection = func(cs tls.ConnectionState) error {
			return c.verifyPeer(cs, host, peerIP, x509.ExtKeyUsageServerAuth)
		}
	}
	return t
}

// verifyPeer checks the peer's chain against the CAs within the verify
// depth, then its name: dialled is the host the client dialled ("" on the
// server side), peerIP the remote address.
func (c *Config) verifyPeer(cs tls.ConnectionState, dialled, peerIP string, usage x509.ExtKeyUsage) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("%w: Peer did not provide certificate", ErrVerify)
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, ic := range cs.PeerCertificates[1:] {
		inter.AddCert(ic)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: c.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
	if err != nil {
		return fmt.Errorf("%w: Could not verify peer certificate: %w", ErrVerify, err)
	}
	ok := false
	for _, ch := range chains {
		// OpenSSL's verify depth d allows levels 0 (the leaf) to d+1
		// (the trust anchor): at most d+2 certificates.
		if len(ch) <= c.VerificationDepth+2 {
			ok = true
			break
		}
	}
	if !ok {
		return fmt.Errorf("%w: Could not verify peer certificate: chain longer than verification depth %d", ErrVerify, c.VerificationDepth)
	}
	return c.verifyName(leaf, dialled, peerIP)
}

// verifyName applies LIBPROCESS_SSL_HOSTNAME_VALIDATION_SCHEME.
func (c *Config) verifyName(leaf *x509.Certificate, dialled, peerIP string) error {
	if c.HostnameValidationScheme == "openssl" {
		if dialled == "" { // server mode: no hostname validation
			return nil
		}
		if net.ParseIP(dialled) != nil {
			if !c.VerifyIPAdd {
				return fmt.Errorf("%w: No DNS name given and IP address verification is disabled", ErrVerify)
			}
			if err := leaf.VerifyHostname(dialled); err != nil {
				return fmt.Errorf("%w: %w", ErrVerify, err)
			}
			return nil
		}
		if !nameMatches(leaf, dialled) {
			return fmt.Errorf("%w: Presented certificate does not match the hostname %q", ErrVerify, dialled)
		}
		return nil
	}
	// legacy: the peer's reverse-DNS name, or its IP with VERIFY_IPADD.
	if c.VerifyIPAdd && peerIP != "" && leaf.VerifyHostname(peerIP) == nil {
		return nil
	}
	var name string
	if peerIP != "" {
		if names, err := c.lookupAddr(peerIP); err == nil && len(names) > 0 {
			name = strings.TrimSuffix(names[0], ".")
		}
	}
	if name == "" {
		return fmt.Errorf("%w: Cannot verify peer certificate: peer hostname unknown", ErrVerify)
	}
	if !nameMatches(leaf, name) {
		return fmt.Errorf("%w: Presented Certificate Name does not match peer hostname name: %s", ErrVerify, name)
	}
	return nil
}

// nameMatches accepts name as a DNS subject alternative name or, when the
// certificate has none, as its common name (as OpenSSL's X509_check_host).
func nameMatches(leaf *x509.Certificate, name string) bool {
	if len(leaf.DNSNames) > 0 {
		return leaf.VerifyHostname(name) == nil
	}
	return strings.EqualFold(leaf.Subject.CommonName, name)
}

func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return ""
	}
	return h
}

// DialContext connects to addr over TLS, verifying the server as
// configured. With SUPPORT_DOWNGRADE a failed handshake is retried on a
// plain connection, as libprocess's connecting side does. With TLS off it
// is a plain dial.
func (c *Config) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil || !c.On() {
		return raw, err
	}
	tc := tls.Client(raw, c.ClientTLS(addr, hostOf(raw.RemoteAddr())))
	herr := tc.HandshakeContext(ctx)
	if herr == nil {
		return tc, nil
	}
	raw.Close()
	if !c.SupportDowngrade || ctx.Err() != nil {
		return nil, fmt.Errorf("tlsconfig: TLS handshake with %s: %w", addr, herr)
	}
	c.log.Warn("TLS handshake failed; downgrading to a non-TLS connection", "address", addr, "error", herr)
	return d.DialContext(ctx, network, addr)
}

// Transport returns a clone of base (http.DefaultTransport when nil) whose
// https connections are made by [Config.DialContext]. With TLS off it is
// the plain clone.
func (c *Config) Transport(base *http.Transport) *http.Transport {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	tr := base.Clone()
	if c.On() {
		tr.DialTLSContext = c.DialContext
		tr.ForceAttemptHTTP2 = false
	}
	return tr
}

// Client returns an *http.Client on [Config.Transport] with the given
// timeout (0: none, for long-lived streams).
func (c *Config) Client(timeout time.Duration) *http.Client {
	return &http.Client{Transport: c.Transport(nil), Timeout: timeout}
}

// Listen wraps a server's listener: unchanged when TLS is off; TLS only
// when downgrade is off (a plaintext client fails its handshake); TLS and
// plaintext on the same port with SUPPORT_DOWNGRADE, each connection's
// first bytes telling which (libprocess's rule: an SSLv2 or TLS
// ClientHello is TLS, anything else plaintext).
func (c *Config) Listen(ln net.Listener) net.Listener {
	if !c.On() {
		return ln
	}
	if !c.SupportDowngrade {
		return tls.NewListener(ln, c.ServerTLS())
	}
	d := &downgradeListener{Listener: ln, cfg: c.ServerTLS(), conns: make(chan net.Conn), done: make(chan struct{}), pending: map[net.Conn]bool{}}
	d.wg.Add(1)
	go d.acceptLoop()
	return d
}

type downgradeListener struct {
	net.Listener
	cfg   *tls.Config
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup

	mu      sync.Mutex
	err     error             // the accept error that ended acceptLoop
	pending map[net.Conn]bool // connections being classified
}

func (d *downgradeListener) acceptLoop() {
	defer d.wg.Done()
	for {
		conn, err := d.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			d.mu.Lock()
			d.err = err
			d.mu.Unlock()
			d.shutdown()
			return
		}
		d.mu.Lock()
		select {
		case <-d.done:
			d.mu.Unlock()
			conn.Close()
			return
		default:
		}
		d.pending[conn] = true
		d.wg.Add(1)
		d.mu.Unlock()
		go func() {
			defer d.wg.Done()
			c, ok := d.classify(conn)
			d.mu.Lock()
			delete(d.pending, conn)
			d.mu.Unlock()
			if !ok {
				conn.Close()
				return
			}
			select {
			case d.conns <- c:
			case <-d.done:
				conn.Close()
			}
		}()
	}
}

// classify peeks at up to 6 bytes (one read, as libprocess's MSG_PEEK)
// and returns the connection as TLS or plain, those bytes kept.
func (d *downgradeListener) classify(conn net.Conn) (net.Conn, bool) {
	buf := make([]byte, 6)
	conn.SetReadDeadline(time.Now().Add(peekTimeout))
	n, err := conn.Read(buf)
	conn.SetReadDeadline(time.Time{})
	if n == 0 && err != nil {
		return nil, false
	}
	buf = buf[:n]
	pc := &peekedConn{Conn: conn, head: buf}
	if isTLS(buf) {
		return tls.Server(pc, d.cfg), true
	}
	return pc, true
}

// isTLS is libprocess's test: fewer than 3 bytes is plaintext; an SSLv2
// client hello (high bit set, third byte 1) or an SSLv3/TLS handshake
// record carrying a ClientHello (0x16, 0x03, ..., sixth byte 1) is TLS.
func isTLS(b []byte) bool {
	switch {
	case len(b) < 3:
		return false
	case b[0]&0x80 != 0 && b[2] == 1:
		return true
	case len(b) >= 6 && b[0] == 0x16 && b[1] == 0x03 && b[5] == 1:
		return true
	}
	return false
}

func (d *downgradeListener) Accept() (net.Conn, error) {
	select {
	case c := <-d.conns:
		return c, nil
	case <-d.done:
		d.mu.Lock()
		err := d.err
		d.mu.Unlock()
		if err == nil {
			err = net.ErrClosed
		}
		return nil, err
	}
}

// Close stops accepting and closes the connections being classified; it
// returns once the listener's goroutines have ended.
func (d *downgradeListener) Close() error {
	err := d.shutdown()
	d.wg.Wait()
	return err
}

func (d *downgradeListener) shutdown() error {
	var err error
	d.once.Do(func() {
		d.mu.Lock()
		close(d.done)
		for c := range d.pending {
			c.Close()
		}
		d.mu.Unlock()
		err = d.Listener.Close()
	})
	return err
}

// peekedConn replays the bytes read while classifying.
type peekedConn struct {
	net.Conn
	head []byte
}

func (p *peekedConn) Read(b []byte) (int, error) {
	if len(p.head) > 0 {
		n := copy(b, p.head)
		p.head = p.head[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}
