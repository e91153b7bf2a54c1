package tlsconfig_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meso-project/meso/pkg/tlsconfig"
	"github.com/meso-project/meso/pkg/tlsconfig/tlstest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mustConfig(t *testing.T, env map[string]string) *tlsconfig.Config {
	t.Helper()
	c, err := tlsconfig.FromEnv(tlstest.Lookup(env), nil)
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	return c
}

func TestFromEnvDisabled(t *testing.T) {
	c := mustConfig(t, map[string]string{})
	if c.On() || c.Scheme() != "http" {
		t.Errorf("On=%v Scheme=%q, want off and http", c.On(), c.Scheme())
	}
	var nilc *tlsconfig.Config
	if nilc.On() || nilc.Scheme() != "http" || nilc.ServerTLS() != nil {
		t.Error("a nil Config must mean TLS off")
	}
}

func TestFromEnvRefuses(t *testing.T) {
	p := tlstest.New(t, "test")
	base := p.Env(nil)
	tests := []struct {
		name string
		set  map[string]string
		del  []string
		want string
	}{
		{"no key", nil, []string{"LIBPROCESS_SSL_KEY_FILE"}, "SSL requires key! NOTE: Set path with LIBPROCESS_SSL_KEY_FILE"},
		{"no cert", nil, []string{"LIBPROCESS_SSL_CERT_FILE"}, "SSL requires certificate!"},
		{"bad bool", map[string]string{"LIBPROCESS_SSL_SUPPORT_DOWNGRADE": "yes"}, nil, "Failed to load flag 'support_downgrade'"},
		{"bad scheme", map[string]string{"LIBPROCESS_SSL_HOSTNAME_VALIDATION_SCHEME": "dns"}, nil, "Unknown value for hostname_validation_scheme: dns"},
		{"sslv3", map[string]string{"LIBPROCESS_SSL_ENABLE_SSL_V3": "true"}, nil, "SSLv3"},
		{"version gap", map[string]string{"LIBPROCESS_SSL_ENABLE_TLS_V1_0": "1", "LIBPROCESS_SSL_ENABLE_TLS_V1_1": "0"}, nil, "contiguous"},
		{"no version", map[string]string{"LIBPROCESS_SSL_ENABLE_TLS_V1_2": "false"}, nil, "no TLS version"},
		{"ciphers", map[string]string{"LIBPROCESS_SSL_CIPHERS": "RC4-SHA:NULL-MD5"}, nil, "Could not set ciphers"},
		{"curves", map[string]string{"LIBPROCESS_SSL_ECDH_CURVES": "brainpool"}, nil, "unknown curve"},
		{"depth", map[string]string{"LIBPROCESS_SSL_VERIFICATION_DEPTH": "x"}, nil, "verification_depth"},
		{"ca file", map[string]string{"LIBPROCESS_SSL_CA_FILE": p.KeyFile}, nil, "Could not load CA file"},
		{"key mismatch", map[string]string{"LIBPROCESS_SSL_KEY_FILE": tlstest.New(t, "other").KeyFile}, nil, "Could not load cert file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.set {
				env[k] = v
			}
			for _, k := range tc.del {
				delete(env, k)
			}
			_, err := tlsconfig.FromEnv(tlstest.Lookup(env), nil)
			if !errors.Is(err, tlsconfig.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("FromEnv = %v, want ErrConfig with %q", err, tc.want)
			}
		})
	}
}

func TestFromEnvLegacyPrefixAndEnv(t *testing.T) {
	p := tlstest.New(t, "test")
	env := map[string]string{
		"SSL_ENABLED":              "1",
		"SSL_CERT_FILE":            p.CertFile,
		"SSL_KEY_FILE":             p.KeyFile,
		"LIBPROCESS_SSL_KEY_FILE":  p.KeyFile,
		"SSL_REQUIRE_CERT":         "true",
		"LIBPROCESS_SSL_CA_FILE":   p.CAFile,
		"LIBPROCESS_SSL_CA_DIR":    "",
		"UNRELATED_SSL_VARIABLE_X": "x",
	}
	delete(env, "LIBPROCESS_SSL_CA_DIR")
	c := mustConfig(t, env)
	if !c.On() || !c.RequireClientCert || !c.VerifyServerCert {
		t.Errorf("got On=%v Require=%v Verify=%v, want all true (REQUIRE_CERT implies verification)", c.On(), c.RequireClientCert, c.VerifyServerCert)
	}
	got := c.Env()
	if got["LIBPROCESS_SSL_ENABLED"] != "1" || got["LIBPROCESS_SSL_CERT_FILE"] != p.CertFile || got["LIBPROCESS_SSL_REQUIRE_CERT"] != "true" {
		t.Errorf("Env() = %v, want the settings under LIBPROCESS_SSL_", got)
	}
}

// serve runs an HTTP server answering "tls" or "plain" on a wrapped
// loopback listener.
func serve(t *testing.T, c *tlsconfig.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.TLS != nil {
				io.WriteString(w, "tls")
				return
			}
			io.WriteString(w, "plain")
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          nil,
	}
	wrapped := c.Listen(ln)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(wrapped) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

func get(t *testing.T, c *tlsconfig.Config, addr string) (string, error) {
	t.Helper()
	tr := c.Transport(nil)
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.Scheme()+"://"+addr+"/", nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(resp.Status + ": " + string(b))
	}
	return string(b), err
}

func TestServerAndClient(t *testing.T) {
	p := tlstest.New(t, "good")
	wrong := tlstest.New(t, "wrong")
	server := mustConfig(t, p.Env(nil))
	serverDowngrade := mustConfig(t, p.Env(map[string]string{"LIBPROCESS_SSL_SUPPORT_DOWNGRADE": "true"}))
	client := mustConfig(t, p.Env(nil))
	plain := mustConfig(t, map[string]string{})
	wrongCA := mustConfig(t, wrong.Env(nil))
	// Trusts the right CA but presents a certificate of the wrong one.
	wrongCert := mustConfig(t, wrong.Env(map[string]string{"LIBPROCESS_SSL_CA_FILE": p.CAFile}))
	// Does not verify the server, but the server still wants a valid
	// client certificate: with the wrong one it is refused.
	noVerifyWrongCert := mustConfig(t, wrong.Env(map[string]string{
		"LIBPROCESS_SSL_VERIFY_CERT": "false", "LIBPROCESS_SSL_REQUIRE_CERT": "false"}))
	clientDowngrade := mustConfig(t, p.Env(map[string]string{"LIBPROCESS_SSL_SUPPORT_DOWNGRADE": "1"}))

	tlsOnly := serve(t, server)
	both := serve(t, serverDowngrade)
	plainSrv := serve(t, plain)

	tests := []struct {
		name   string
		client *tlsconfig.Config
		addr   string
		want   string // "" means refused
	}{
		{"tls client, tls server", client, tlsOnly, "tls"},
		{"plain client refused by tls server", plain, tlsOnly, ""},
		{"wrong CA client refuses server", wrongCA, tlsOnly, ""},
		{"client cert of another CA refused", wrongCert, tlsOnly, ""},
		{"unverified client with a bad cert refused", noVerifyWrongCert, tlsOnly, ""},
		{"tls client, downgrade server", client, both, "tls"},
		{"plain client, downgrade server", plain, both, "plain"},
		{"tls client refused by plain server", client, plainSrv, ""},
		{"downgrading client, plain server", clientDowngrade, plainSrv, "plain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := get(t, tc.client, tc.addr)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("GET succeeded with %q, want refused", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("GET = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestClientWithoutCertRefused(t *testing.T) {
	p := tlstest.New(t, "good")
	addr := serve(t, mustConfig(t, p.Env(nil)))
	// A client that trusts the CA but has no certificate of its own.
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if err == nil {
			_, err = conn.Read(make([]byte, 1))
		}
	}
	if err == nil {
		t.Fatal("a client without a certificate was served, want refused")
	}
}

func TestLegacyHostnameScheme(t *testing.T) {
	p := tlstest.New(t, "good")
	legacy := map[string]string{"LIBPROCESS_SSL_HOSTNAME_VALIDATION_SCHEME": "legacy"}
	addr := serve(t, mustConfig(t, p.Env(legacy)))
	// With VERIFY_IPADD the peer's IP in the certificate suffices.
	if got, err := get(t, mustConfig(t, p.Env(legacy)), addr); err != nil || got != "tls" {
		t.Fatalf("legacy with VERIFY_IPADD: %q, %v", got, err)
	}
	// openssl without VERIFY_IPADD cannot verify a server dialled by IP.
	noIP := mustConfig(t, p.Env(map[string]string{"LIBPROCESS_SSL_VERIFY_IPADD": "false"}))
	if _, err := get(t, noIP, addr); err == nil || !strings.Contains(err.Error(), "IP address verification is disabled") {
		t.Fatalf("openssl scheme by IP without VERIFY_IPADD: err = %v, want refused", err)
	}
}

func TestDowngradeListenerClose(t *testing.T) {
	p := tlstest.New(t, "good")
	c := mustConfig(t, p.Env(map[string]string{"LIBPROCESS_SSL_SUPPORT_DOWNGRADE": "true"}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := c.Listen(ln)
	// A client that connects and sends nothing is being classified when
	// the listener closes: Close must not wait for its peek timeout.
	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	w.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if _, err := w.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
	}
}

// TestVersionsAndCiphers: LIBPROCESS_SSL_ENABLE_TLS_V1_* and
// LIBPROCESS_SSL_CIPHERS are enforced, a client and server sharing no
// version or cipher failing the handshake.
func TestVersionsAndCiphers(t *testing.T) {
	p := tlstest.New(t, "good") // an ECDSA certificate
	cfg := func(extra map[string]string) *tlsconfig.Config { return mustConfig(t, p.Env(extra)) }
	tls13 := map[string]string{"LIBPROCESS_SSL_ENABLE_TLS_V1_2": "false", "LIBPROCESS_SSL_ENABLE_TLS_V1_3": "true"}
	tests := []struct {
		name           string
		server, client map[string]string
		ok             bool
	}{
		{"defaults", nil, nil, true},
		{"tls 1.3 both", tls13, tls13, true},
		{"tls 1.3 server, tls 1.2 client", tls13, nil, false},
		{"named cipher", map[string]string{"LIBPROCESS_SSL_CIPHERS": "ECDHE-ECDSA-AES128-GCM-SHA256"}, nil, true},
		{"no common cipher", map[string]string{"LIBPROCESS_SSL_CIPHERS": "ECDHE-ECDSA-AES128-GCM-SHA256"},
			map[string]string{"LIBPROCESS_SSL_CIPHERS": "ECDHE-ECDSA-AES256-GCM-SHA384"}, false},
		{"cipher for another key type", map[string]string{"LIBPROCESS_SSL_CIPHERS": "ECDHE-RSA-AES128-GCM-SHA256:RC4-SHA"}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := serve(t, cfg(tc.server))
			got, err := get(t, cfg(tc.client), addr)
			if tc.ok && (err != nil || got != "tls") {
				t.Fatalf("GET = %q, %v; want served over TLS", got, err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("GET succeeded, want the handshake refused")
			}
		})
	}
}
