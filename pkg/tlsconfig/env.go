// Package tlsconfig builds TLS configurations from libprocess's
// LIBPROCESS_SSL_* environment variables (Mesos 1.11 docs/ssl.md), for every
// meso server (master, agent) and client (agent → master, executors →
// agent, schedulers → master, the CLI).
//
// A [Config] is read once with [FromEnv]; a nil or disabled Config means
// plain HTTP everywhere. Servers wrap their listener with [Config.Listen]
// (TLS only, or TLS and plaintext on the same port when
// LIBPROCESS_SSL_SUPPORT_DOWNGRADE is set, told apart by the first bytes as
// libprocess does); clients take a transport from [Config.Transport] and the
// URL scheme from [Config.Scheme].
//
// Certificate verification mirrors libprocess: a client verifies the server
// only with LIBPROCESS_SSL_VERIFY_SERVER_CERT (or its legacy alias
// VERIFY_CERT); a server asks for and verifies client certificates only with
// LIBPROCESS_SSL_REQUIRE_CLIENT_CERT (alias REQUIRE_CERT), which also turns
// on server verification. Hostname validation follows
// LIBPROCESS_SSL_HOSTNAME_VALIDATION_SCHEME: "legacy" (the default) matches
// the peer's reverse-DNS name (and its IP with VERIFY_IPADD) on both sides;
// "openssl" matches the name or IP the client dialled, and nothing on the
// server side.
//
// Settings Go's crypto/tls cannot honour are refused by FromEnv with an
// error, never ignored: LIBPROCESS_SSL_ENABLE_SSL_V3=true, a set of enabled
// protocol versions with a gap, and a cipher or curve list naming nothing Go
// implements.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ErrConfig marks an invalid LIBPROCESS_SSL_* configuration; Mesos exits at
// startup on these.
var ErrConfig = errors.New("tlsconfig: invalid SSL configuration")

// Prefix is the environment prefix libprocess reads; LegacyPrefix ("SSL_")
// is still accepted, the LIBPROCESS_SSL_ value winning when both are set.
const (
	Prefix       = "LIBPROCESS_SSL_"
	LegacyPrefix = "SSL_"
)

// Mesos's defaults (3rdparty/libprocess/src/openssl.cpp).
const (
	DefaultVerificationDepth        = 4
	DefaultHostnameValidationScheme = "legacy"
	DefaultECDHCurves               = "auto"
	// MesosDefaultCiphers is libprocess's default cipher list. It is not
	// our default: Go implements only its two RSA-key-exchange suites
	// (AES128-SHA, AES256-SHA; no RC4, no DHE), which need an RSA
	// certificate and are off by default in Go for their weakness. With
	// LIBPROCESS_SSL_CIPHERS unset, Go's default suites are used (ECDHE with
	// AES-GCM, ChaCha20 and AES-CBC, RSA or ECDSA certificates); set it to
	// this value for libprocess's exact list.
	MesosDefaultCiphers = "AES128-SHA:AES256-SHA:RC4-SHA:DHE-RSA-AES128-SHA:DHE-DSS-AES128-SHA:" +
		"DHE-RSA-AES256-SHA:DHE-DSS-AES256-SHA"
)

// Config is the TLS setting of one process, as libprocess's SSL flags.
// The zero value and nil mean TLS is off.
type Config struct {
	Enabled                  bool   // ENABLED
	SupportDowngrade         bool   // SUPPORT_DOWNGRADE
	CertFile                 string // CERT_FILE
	KeyFile                  string // KEY_FILE
	CAFile                   string // CA_FILE
	CADir                    string // CA_DIR
	VerifyServerCert         bool   // VERIFY_SERVER_CERT, or VERIFY_CERT (legacy), or implied by RequireClientCert
	RequireClientCert        bool   // REQUIRE_CLIENT_CERT, or REQUIRE_CERT (legacy)
	VerifyIPAdd              bool   // VERIFY_IPADD
	VerificationDepth        int    // VERIFICATION_DEPTH (docs: VERIFY_DEPTH), default 4
	HostnameValidationScheme string // HOSTNAME_VALIDATION_SCHEME: legacy | openssl
	Ciphers                  string // CIPHERS, OpenSSL names separated by ':'; "" is Go's defaults (see MesosDefaultCiphers)
	ECDHCurves               string // ECDH_CURVES, "auto" or names separated by ':'
	MinVersion, MaxVersion   uint16 // from ENABLE_TLS_V1_0 .. ENABLE_TLS_V1_3

	// env holds the variables read, by suffix, for executors (Env).
	env map[string]string

	cert       tls.Certificate
	roots      *x509.CertPool
	suites     []uint16
	curves     []tls.CurveID
	log        *slog.Logger
	lookupAddr func(string) ([]string, error) // reverse DNS, for "legacy"
}

// flag describes one recognised variable (the suffix after the prefix).
type flag struct {
	name string
	set  func(c *Config, v string) error
}

func boolFlag(p func(c *Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		switch v {
		case "true", "1":
			*p(c) = true
		case "false", "0":
			*p(c) = false
		default:
			return fmt.Errorf("Failed to load value '%s': Expecting a boolean (e.g., true or false)", v)
		}
		return nil
	}
}

func strFlag(p func(c *Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *p(c) = v; return nil }
}

type rawFlags struct {
	verifyCert, requireCert, verifyServer, requireClient bool
	sslv3, tls10, tls11, tls12, tls13                    bool
	verificationDepth                                    string
}

// FromEnv reads the LIBPROCESS_SSL_* (and deprecated SSL_*) variables with
// lookup (typically os.LookupEnv) and, when ENABLED is true, loads the
// certificate, key and CAs. It fails, with Mesos's startup messages where
// Mesos has one, on what libprocess would exit on and on what Go cannot do.
// A nil logger discards.
func FromEnv(lookup func(string) (string, bool), log *slog.Logger) (*Config, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Config{
		VerificationDepth:        DefaultVerificationDepth,
		HostnameValidationScheme: DefaultHostnameValidationScheme,
		ECDHCurves:               DefaultECDHCurves,
		env:                      map[string]string{},
		log:                      log,
	}
	raw := rawFlags{tls12: true, verificationDepth: strconv.Itoa(DefaultVerificationDepth)}
	flags := []flag{
		{"ENABLED", boolFlag(func(c *Config) *bool { return &c.Enabled })},
		{"SUPPORT_DOWNGRADE", boolFlag(func(c *Config) *bool { return &c.SupportDowngrade })},
		{"CERT_FILE", strFlag(func(c *Config) *string { return &c.CertFile })},
		{"KEY_FILE", strFlag(func(c *Config) *string { return &c.KeyFile })},
		{"CA_FILE", strFlag(func(c *Config) *string { return &c.CAFile })},
		{"CA_DIR", strFlag(func(c *Config) *string { return &c.CADir })},
		{"VERIFY_CERT", boolFlag(func(*Config) *bool { return &raw.verifyCert })},
		{"VERIFY_SERVER_CERT", boolFlag(func(*Config) *bool { return &raw.verifyServer })},
		{"REQUIRE_CERT", boolFlag(func(*Config) *bool { return &raw.requireCert })},
		{"REQUIRE_CLIENT_CERT", boolFlag(func(*Config) *bool { return &raw.requireClient })},
		{"VERIFY_IPADD", boolFlag(func(c *Config) *bool { return &c.VerifyIPAdd })},
		{"VERIFICATION_DEPTH", strFlag(func(*Config) *string { return &raw.verificationDepth })},
		{"CIPHERS", strFlag(func(c *Config) *string { return &c.Ciphers })},
		{"ECDH_CURVES", strFlag(func(c *Config) *string { return &c.ECDHCurves })},
		{"HOSTNAME_VALIDATION_SCHEME", strFlag(func(c *Config) *string { return &c.HostnameValidationScheme })},
		{"ENABLE_SSL_V3", boolFlag(func(*Config) *bool { return &raw.sslv3 })},
		{"ENABLE_TLS_V1_0", boolFlag(func(*Config) *bool { return &raw.tls10 })},
		{"ENABLE_TLS_V1_1", boolFlag(func(*Config) *bool { return &raw.tls11 })},
		{"ENABLE_TLS_V1_2", boolFlag(func(*Config) *bool { return &raw.tls12 })},
		{"ENABLE_TLS_V1_3", boolFlag(func(*Config) *bool { return &raw.tls13 })},
	}
	for _, f := range flags {
		v, ok := lookup(Prefix + f.name)
		if legacy, lok := lookup(LegacyPrefix + f.name); lok {
			if ok && legacy != v {
				log.Warn("Mismatched values for SSL environment variables " + LegacyPrefix + f.name + " and " + Prefix + f.name)
			}
			if !ok {
				v, ok = legacy, true
			}
		}
		if !ok {
			continue
		}
		if err := f.set(c, v); err != nil {
			return nil, fmt.Errorf("%w: Failed to load flags from environment variables prefixed by LIBPROCESS_SSL_ or SSL_ (deprecated): Failed to load flag '%s': %s",
				ErrConfig, strings.ToLower(f.name), err)
		}
		c.env[f.name] = v
	}
	// The documented name is VERIFY_DEPTH, the flag libprocess reads is
	// VERIFICATION_DEPTH; both are taken, the latter winning.
	if v, ok := lookup(Prefix + "VERIFY_DEPTH"); ok {
		if _, set := c.env["VERIFICATION_DEPTH"]; !set {
			raw.verificationDepth = v
			c.env["VERIFY_DEPTH"] = v
		}
	}
	d, err := strconv.Atoi(raw.verificationDepth)
	if err != nil || d < 0 {
		return nil, fmt.Errorf("%w: Failed to load flags from environment variables prefixed by LIBPROCESS_SSL_ or SSL_ (deprecated): Failed to load flag 'verification_depth': Failed to load value '%s'",
			ErrConfig, raw.verificationDepth)
	}
	c.VerificationDepth = d
	if !c.Enabled {
		return c, nil
	}

	if c.SupportDowngrade {
		log.Warn("Failed SSL connections will be downgraded to a non-SSL socket")
	}
	c.VerifyServerCert = raw.verifyServer || raw.verifyCert
	c.RequireClientCert = raw.requireClient || raw.requireCert
	if raw.verifyCert {
		log.Warn("Usage of LIBPROCESS_SSL_VERIFY_CERT is deprecated; it was renamed to LIBPROCESS_SSL_VERIFY_SERVER_CERT")
	}
	if raw.requireCert {
		log.Warn("Usage of LIBPROCESS_SSL_REQUIRE_CERT is deprecated; it was renamed to LIBPROCESS_SSL_REQUIRE_CLIENT_CERT")
	}
	if (c.RequireClientCert || c.VerifyServerCert) && c.SupportDowngrade {
		log.Warn("TLS certificate verification was enabled by setting one of LIBPROCESS_SSL_VERIFY_CERT or LIBPROCESS_SSL_REQUIRE_CERT, but can be bypassed because TLS downgrades are enabled.")
	}
	if c.KeyFile == "" {
		return nil, fmt.Errorf("%w: SSL requires key! NOTE: Set path with LIBPROCESS_SSL_KEY_FILE", ErrConfig)
	}
	if c.CertFile == "" {
		return nil, fmt.Errorf("%w: SSL requires certificate! NOTE: Set path with LIBPROCESS_SSL_CERT_FILE", ErrConfig)
	}
	if c.RequireClientCert {
		// As libprocess: requiring client certificates implies verifying
		// server certificates.
		c.VerifyServerCert = true
	}
	switch c.HostnameValidationScheme {
	case "legacy", "openssl":
	default:
		return nil, fmt.Errorf("%w: Unknown value for hostname_validation_scheme: %s", ErrConfig, c.HostnameValidationScheme)
	}

	if c.VerifyServerCert {
		if c.roots, err = loadRoots(c.CAFile, c.CADir); err != nil {
			return nil, err
		}
	}
	c.cert, err = tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: Could not load cert file '%s' or key file '%s': %w", ErrConfig, c.CertFile, c.KeyFile, err)
	}
	if c.MinVersion, c.MaxVersion, err = versions(raw); err != nil {
		return nil, err
	}
	if c.Ciphers != "" {
		if c.suites, err = cipherSuites(c.Ciphers); err != nil {
			return nil, err
		}
	}
	if c.curves, err = curves(c.ECDHCurves); err != nil {
		return nil, err
	}
	c.lookupAddr = defaultLookupAddr
	return c, nil
}

// loadRoots reads the trusted CAs: a PEM file, every PEM file of a
// directory, or the system's pool when neither is given (as
// SSL_CTX_set_default_verify_paths).
func loadRoots(file, dir string) (*x509.CertPool, error) {
	if file == "" && dir == "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			return nil, fmt.Errorf("%w: Could not load default CA file and/or directory: %w", ErrConfig, err)
		}
		return pool, nil
	}
	pool := x509.NewCertPool()
	var paths []string
	if file != "" {
		paths = append(paths, file)
	}
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("%w: Could not load CA file and/or directory: DIR: %s: %w", ErrConfig, dir, err)
		}
		for _, e := range entries {
			if !e.IsDir() {
				paths = append(paths, filepath.Join(dir, e.Name()))
			}
		}
	}
	found := false
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("%w: Could not load CA file and/or directory: FILE: %s: %w", ErrConfig, p, err)
		}
		if pool.AppendCertsFromPEM(b) {
			found = true
		} else if p == file {
			return nil, fmt.Errorf("%w: Could not load CA file and/or directory: FILE: %s: no PEM certificate", ErrConfig, p)
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: Could not load CA file and/or directory: DIR: %s: no PEM certificate", ErrConfig, dir)
	}
	return pool, nil
}

// versions turns the ENABLE_* switches into Go's [min, max] range.
func versions(r rawFlags) (uint16, uint16, error) {
	if r.sslv3 {
		return 0, 0, fmt.Errorf("%w: LIBPROCESS_SSL_ENABLE_SSL_V3 is not supported: SSLv3 is not implemented", ErrConfig)
	}
	on := []struct {
		v  uint16
		on bool
	}{{tls.VersionTLS10, r.tls10}, {tls.VersionTLS11, r.tls11}, {tls.VersionTLS12, r.tls12}, {tls.VersionTLS13, r.tls13}}
	var lo, hi uint16
	gap := false
	for _, v := range on {
		switch {
		case v.on && hi != 0 && gap:
			return 0, 0, fmt.Errorf("%w: the enabled TLS versions (LIBPROCESS_SSL_ENABLE_TLS_V1_*) must be contiguous", ErrConfig)
		case v.on:
			if lo == 0 {
				lo = v.v
			}
			hi = v.v
		case hi != 0:
			gap = true
		}
	}
	if lo == 0 {
		return 0, 0, fmt.Errorf("%w: no TLS version is enabled (LIBPROCESS_SSL_ENABLE_TLS_V1_*)", ErrConfig)
	}
	return lo, hi, nil
}

// opensslCiphers maps OpenSSL cipher names to the Go suites implementing them.
var opensslCiphers = map[string]uint16{
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA256":                 tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	"DES-CBC3-SHA":                  tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES128-SHA256":       tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-ECDSA-AES128-SHA256":     tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-DES-CBC3-SHA":        tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
}

// cipherSuites maps a ':'-separated OpenSSL cipher list to Go suites. As
// SSL_CTX_set_cipher_list, names it cannot use are skipped and only a list
// matching nothing is an error ("Could not set ciphers"). The list applies
// to TLS 1.2 and below; TLS 1.3 suites are not configurable, as in OpenSSL's
// cipher list.
func cipherSuites(list string) ([]uint16, error) {
	var out []uint16
	for name := range strings.SplitSeq(list, ":") {
		if id, ok := opensslCiphers[strings.TrimSpace(name)]; ok {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: Could not set ciphers '%s': no cipher in the list is supported", ErrConfig, list)
	}
	return out, nil
}

var curveNames = map[string]tls.CurveID{
	"P-256": tls.CurveP256, "prime256v1": tls.CurveP256, "secp256r1": tls.CurveP256,
	"P-384": tls.CurveP384, "secp384r1": tls.CurveP384,
	"P-521": tls.CurveP521, "secp521r1": tls.CurveP521,
	"X25519": tls.X25519, "x25519": tls.X25519,
}

// curves maps LIBPROCESS_SSL_ECDH_CURVES; "auto" leaves Go's default.
func curves(list string) ([]tls.CurveID, error) {
	if list == "auto" {
		return nil, nil
	}
	var out []tls.CurveID
	for name := range strings.SplitSeq(list, ":") {
		id, ok := curveNames[name]
		if !ok {
			known := make([]string, 0, len(curveNames))
			for k := range curveNames {
				known = append(known, k)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("%w: Failed to set ECDH curves '%s': unknown curve '%s' (supported: %s)", ErrConfig, list, name, strings.Join(known, ", "))
		}
		out = append(out, id)
	}
	return out, nil
}

// Env returns the LIBPROCESS_SSL_* variables this Config was read from, for
// an executor's environment: Mesos executors inherit the agent's
// environment, so they speak TLS to the agent exactly when it does.
func (c *Config) Env() map[string]string {
	if c == nil {
		return nil
	}
	out := make(map[string]string, len(c.env))
	for k, v := range c.env {
		out[Prefix+k] = v
	}
	return out
}

// On reports whether TLS is enabled (false for nil).
func (c *Config) On() bool { return c != nil && c.Enabled }

// Scheme is "https" when TLS is on, else "http": the scheme of every URL a
// meso client builds for a master or agent, as libprocess's users pick it.
func (c *Config) Scheme() string {
	if c.On() {
		return "https"
	}
	return "http"
}
