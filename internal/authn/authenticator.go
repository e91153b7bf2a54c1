package authn

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/meso-project/meso/internal/httpapi"
)

// Mesos's HTTP authentication realms (src/master/constants.hpp,
// src/slave/constants.hpp).
const (
	RealmMasterReadOnly  = "mesos-master-readonly"
	RealmMasterReadWrite = "mesos-master-readwrite"
	RealmMasterScheduler = "mesos-master-scheduler"
	RealmAgentReadOnly   = "mesos-agent-readonly"
	RealmAgentReadWrite  = "mesos-agent-readwrite"
	RealmAgentExecutor   = "mesos-agent-executor"
	// RealmMasterAgent is meso's own realm for the agent protocol
	// (/master/internal/agent) under --authenticate_agents: Mesos
	// authenticates agents with SASL over libprocess messages instead.
	RealmMasterAgent = "mesos-master-agent"
)

// Names of the HTTP authenticators (--http_authenticators).
const (
	BasicName = "basic"
	JWTName   = "jwt"
)

// Result is an authenticator's answer: a principal (Value and/or Claims)
// when OK, otherwise the challenge for the WWW-Authenticate header.
type Result struct {
	OK bool
	// Value is the principal's value (a basic-auth principal); empty for a
	// token, whose principal has claims only.
	Value  string
	Claims map[string]string
	// Challenge is the WWW-Authenticate value when !OK.
	Challenge string
}

// Authenticator authenticates one HTTP request (libprocess's
// http::authentication::Authenticator). Implementations are safe for
// concurrent use and do not read the body.
type Authenticator interface {
	Authenticate(r *http.Request) Result
	// Scheme is the HTTP authentication scheme ("Basic", "Bearer").
	Scheme() string
}

// Basic is libprocess's BasicAuthenticator over a set of credentials.
type Basic struct {
	realm   string
	secrets map[string]string
}

var _ Authenticator = (*Basic)(nil)

// NewBasic returns a basic authenticator for realm. A later credential of
// the same principal wins, as when libprocess builds its hashmap.
func NewBasic(realm string, creds []Credential) *Basic {
	b := &Basic{realm: realm, secrets: make(map[string]string, len(creds))}
	for _, c := range creds {
		b.secrets[c.Principal] = c.Secret
	}
	return b
}

// Scheme implements Authenticator.
func (b *Basic) Scheme() string { return "Basic" }

// Authenticate implements Authenticator with libprocess's rules: exactly
// "Basic <base64>", which decodes to exactly one ':' between principal and
// secret (a secret containing ':' never matches, as in libprocess).
func (b *Basic) Authenticate(r *http.Request) Result {
	fail := Result{Challenge: `Basic realm="` + b.realm + `"`}
	h := r.Header.Get("Authorization")
	parts := strings.Split(h, " ")
	if h == "" || len(parts) != 2 || parts[0] != "Basic" {
		return fail
	}
	dec, err := base64.StdEncoding.DecodeString(parts[1])
	if err != nil {
		return fail
	}
	cred := strings.Split(string(dec), ":")
	if len(cred) != 2 {
		return fail
	}
	secret, ok := b.secrets[cred[0]]
	if !ok || subtle.ConstantTimeCompare([]byte(secret), []byte(cred[1])) != 1 {
		return fail
	}
	return Result{OK: true, Value: cred[0]}
}

// JWT is libprocess's JWTAuthenticator: "Authorization: Bearer <HS256 JWT>".
type JWT struct {
	realm string
	key   []byte
	now   func() time.Time
}

var _ Authenticator = (*JWT)(nil)

// NewJWT returns a token authenticator for realm with the HS256 key.
func NewJWT(realm string, key []byte) *JWT {
	return &JWT{realm: realm, key: key, now: time.Now}
}

// Scheme implements Authenticator.
func (j *JWT) Scheme() string { return "Bearer" }

// Authenticate implements Authenticator with libprocess's challenges.
func (j *JWT) Authenticate(r *http.Request) Result {
	base := `Bearer realm="` + j.realm + `"`
	h, ok := r.Header["Authorization"]
	if !ok || len(h) == 0 {
		return Result{Challenge: base}
	}
	invalid := func(desc string) Result {
		return Result{Challenge: base + `, error="invalid_token", error_description="` + desc + `"`}
	}
	parts := strings.Split(h[0], " ")
	if len(parts) != 2 {
		return invalid("Malformed 'Authorization' header")
	}
	if parts[0] != "Bearer" {
		return invalid("Scheme '" + quoteSafe(parts[0]) + "' unsupported")
	}
	claims, err := VerifyJWT(parts[1], j.key, j.now())
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), ErrInvalidToken.Error()+": ")
		return invalid("Invalid JWT: " + quoteSafe(msg))
	}
	if len(claims) == 0 {
		return invalid("JWT claims missing")
	}
	return Result{OK: true, Claims: claims}
}

// quoteSafe keeps a client's text from breaking out of the quoted header
// parameter.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// Combined is Mesos's CombinedAuthenticator: the first authenticator that
// accepts wins; otherwise the request gets every challenge, those whose
// scheme the request used first.
type Combined []Authenticator

var _ Authenticator = Combined(nil)

// Scheme implements Authenticator.
func (c Combined) Scheme() string {
	s := make([]string, len(c))
	for i, a := range c {
		s[i] = a.Scheme()
	}
	return strings.Join(s, ",")
}

// Authenticate implements Authenticator.
func (c Combined) Authenticate(r *http.Request) Result {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	var used, other []string
	for _, a := range c {
		res := a.Authenticate(r)
		if res.OK {
			return res
		}
		if a.Scheme() == scheme {
			used = append(used, res.Challenge)
		} else {
			other = append(other, res.Challenge)
		}
	}
	return Result{Challenge: strings.Join(append(used, other...), ", ")}
}

// Realms maps a realm to its authenticator. A realm that is absent is
// open: its requests pass unauthenticated, as in libprocess.
type Realms map[string]Authenticator

// Enabled reports whether realm requires authentication.
func (rs Realms) Enabled(realm string) bool {
	_, ok := rs[realm]
	return ok
}

// Wrap returns h behind realm's authenticator: a request it refuses gets
// 401 with WWW-Authenticate and libprocess's body "401 Unauthorized.";
// one it accepts reaches h with the principal in its context. With no
// authenticator for realm (or realm ""), h is returned as is.
func (rs Realms) Wrap(realm string, h http.Handler) http.Handler {
	a, ok := rs[realm]
	if !ok || realm == "" {
		return h
	}
	return Middleware(a, h)
}

// Middleware is Wrap for one authenticator.
func Middleware(a Authenticator, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := a.Authenticate(r)
		if !res.OK {
			Unauthorized(w, res.Challenge)
			return
		}
		h.ServeHTTP(w, r.WithContext(withResult(r.Context(), res)))
	})
}

// Unauthorized writes libprocess's http::Unauthorized.
func Unauthorized(w http.ResponseWriter, challenge string) {
	const body = "401 Unauthorized."
	hd := w.Header()
	hd.Set("WWW-Authenticate", challenge)
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(body))
}

type claimsKey struct{}

// withResult puts an accepted principal into ctx: its value through
// httpapi.WithPrincipal (what authorization reads), its claims under
// [Claims].
func withResult(ctx context.Context, res Result) context.Context {
	if res.Value != "" {
		ctx = httpapi.WithPrincipal(ctx, res.Value)
	}
	if len(res.Claims) > 0 {
		ctx = context.WithValue(ctx, claimsKey{}, res.Claims)
	}
	ctx = context.WithValue(ctx, authenticatedKey{}, true)
	return ctx
}

type authenticatedKey struct{}

// Authenticated reports whether an authenticator accepted the request of
// ctx (with a value, claims or both).
func Authenticated(ctx context.Context) bool {
	v, _ := ctx.Value(authenticatedKey{}).(bool)
	return v
}

// Claims returns the claims of the request's authenticated principal (an
// executor token's fid, eid, cid), and false when it has none.
func Claims(ctx context.Context) (map[string]string, bool) {
	c, ok := ctx.Value(claimsKey{}).(map[string]string)
	return c, ok
}

// WithClaims returns ctx carrying claims as an authenticated principal's,
// for tests of handlers that check them.
func WithClaims(ctx context.Context, claims map[string]string) context.Context {
	return withResult(ctx, Result{OK: true, Claims: claims})
}

// ClaimsString formats claims as libprocess prints a principal with
// claims only: {"claims":{"cid":"..","eid":"..","fid":".."}}.
func ClaimsString(claims map[string]string) string {
	keys := make([]string, 0, len(claims))
	for k := range claims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(`{"claims":{`)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconvQuote(k))
		b.WriteByte(':')
		b.WriteString(strconvQuote(claims[k]))
	}
	b.WriteString("}}")
	return b.String()
}

// BasicTransport returns a RoundTripper that sends c as HTTP basic
// credentials on every request (the agent's --credential on the agent
// protocol); base when c is nil. A nil base is http.DefaultTransport.
func BasicTransport(base http.RoundTripper, c *Credential) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if c == nil {
		return base
	}
	return basicTransport{base: base, c: *c}
}

type basicTransport struct {
	base http.RoundTripper
	c    Credential
}

func (t basicTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.SetBasicAuth(t.c.Principal, t.c.Secret)
	return t.base.RoundTrip(r2)
}
