package authn

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meso-project/meso/internal/httpapi"
)

func TestParseCredentials(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Credential
		wantErr  bool
	}{
		{name: "two", in: `{"credentials":[{"principal":"a","secret":"s1"},{"principal":"b","secret":"s2"}]}`,
			want: []Credential{{"a", "s1"}, {"b", "s2"}}},
		{name: "no secret", in: `{"credentials":[{"principal":"a"}]}`, want: []Credential{{Principal: "a"}}},
		{name: "unknown field ignored", in: `{"credentials":[{"principal":"a","secret":"s","x":1}],"y":2}`, want: []Credential{{"a", "s"}}},
		{name: "missing principal", in: `{"credentials":[{"secret":"s"}]}`, wantErr: true},
		{name: "principal not string", in: `{"credentials":[{"principal":1}]}`, wantErr: true},
		{name: "text format", in: "a s1\nb s2\n", wantErr: true},
		{name: "array", in: `[]`, wantErr: true},
		{name: "trailing", in: `{"credentials":[]} {}`, wantErr: true},
		{name: "credentials not array", in: `{"credentials":{}}`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCredentials([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); !tc.wantErr && diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, err := ParseCredentials(nil); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("empty: %v, want ErrNoCredentials", err)
	}
}

func TestReadCredentialsFileURL(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "creds.json")
	if err := os.WriteFile(p, []byte(`{"credentials":[{"principal":"p","secret":"s"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{p, "file://" + p} {
		got, err := ReadCredentials(path, "--credentials")
		if err != nil || len(got) != 1 || got[0] != (Credential{"p", "s"}) {
			t.Errorf("ReadCredentials(%q) = %v, %v", path, got, err)
		}
	}
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, nil, 0o600)
	if _, err := ReadCredentials(empty, "--credentials"); err == nil || !strings.Contains(err.Error(), "at least one credential") {
		t.Errorf("empty file: %v", err)
	}
	one := filepath.Join(dir, "one")
	_ = os.WriteFile(one, []byte(`{"principal":"agent","secret":"x"}`), 0o600)
	if c, err := ReadCredential("file://"+one, "--credential"); err != nil || c != (Credential{"agent", "x"}) {
		t.Errorf("ReadCredential = %v, %v", c, err)
	}
}

func basicHeader(p, s string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(p+":"+s))
}

func TestBasicMiddleware(t *testing.T) {
	rs := Realms{RealmMasterReadOnly: NewBasic(RealmMasterReadOnly, []Credential{{"alice", "pw"}, {"colon", "a:b"}})}
	var gotPrincipal string
	h := rs.Wrap(RealmMasterReadOnly, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPrincipal, _ = httpapi.Principal(r.Context())
	}))
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"none", "", 401},
		{"good", basicHeader("alice", "pw"), 200},
		{"bad secret", basicHeader("alice", "nope"), 401},
		{"unknown", basicHeader("bob", "pw"), 401},
		{"secret with colon never matches", basicHeader("colon", "a:b"), 401},
		{"lowercase scheme", "basic " + base64.StdEncoding.EncodeToString([]byte("alice:pw")), 401},
		{"bad base64", "Basic !!!", 401},
		{"bearer", "Bearer x", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gotPrincipal = ""
			req := httptest.NewRequest("GET", "/state", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d", rec.Code, tc.want)
			}
			if tc.want == 401 {
				if got := rec.Header().Get("WWW-Authenticate"); got != `Basic realm="mesos-master-readonly"` {
					t.Errorf("WWW-Authenticate = %q", got)
				}
				if b, _ := io.ReadAll(rec.Body); string(b) != "401 Unauthorized." {
					t.Errorf("body = %q", b)
				}
			} else if gotPrincipal != "alice" {
				t.Errorf("principal = %q", gotPrincipal)
			}
		})
	}
	// An open realm passes.
	rec := httptest.NewRecorder()
	rs.Wrap(RealmMasterReadWrite, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 {
		t.Errorf("open realm: %d", rec.Code)
	}
}

func TestJWT(t *testing.T) {
	key := []byte("secret-key")
	claims := ExecutorClaims("f1", "e1", "c1")
	tok := SignJWT(claims, key)
	got, err := VerifyJWT(tok, key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(claims, got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	if _, err := VerifyJWT(tok, []byte("other"), time.Now()); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("wrong key: %v", err)
	}
	// alg "none" with the same payload is refused.
	parts := strings.Split(tok, ".")
	none := b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
	if _, err := VerifyJWT(none, key, time.Now()); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("alg none: %v", err)
	}
	// A tampered payload is refused.
	forged := parts[0] + "." + b64.EncodeToString([]byte(`{"cid":"c2","eid":"e1","fid":"f1"}`)) + "." + parts[2]
	if _, err := VerifyJWT(forged, key, time.Now()); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("forged: %v", err)
	}
	// Expired.
	exp := b64.EncodeToString([]byte(`{"alg":"HS256"}`)) + "." + b64.EncodeToString([]byte(`{"exp":1,"cid":"c"}`))
	exp += "." + b64.EncodeToString(hs256(exp, key))
	if _, err := VerifyJWT(exp, key, time.Now()); err == nil || !strings.Contains(err.Error(), "Token has expired") {
		t.Errorf("expired: %v", err)
	}

	a := Combined{NewBasic(RealmAgentExecutor, []Credential{{"op", "pw"}}), NewJWT(RealmAgentExecutor, key)}
	req := httptest.NewRequest("POST", "/api/v1/executor", nil)
	if res := a.Authenticate(req); res.OK || res.Challenge != `Basic realm="mesos-agent-executor", Bearer realm="mesos-agent-executor"` {
		t.Errorf("no header: %+v", res)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if res := a.Authenticate(req); !res.OK || res.Claims["cid"] != "c1" {
		t.Errorf("token: %+v", res)
	}
	req.Header.Set("Authorization", "Bearer "+forged)
	if res := a.Authenticate(req); res.OK || !strings.HasPrefix(res.Challenge, `Bearer realm="mesos-agent-executor", error="invalid_token"`) {
		t.Errorf("forged token: %+v", res)
	}
	req.Header.Set("Authorization", basicHeader("op", "pw"))
	if res := a.Authenticate(req); !res.OK || res.Value != "op" {
		t.Errorf("basic: %+v", res)
	}
}

func TestBuild(t *testing.T) {
	if _, err := Build("r", "basic", nil, nil); err == nil {
		t.Error("basic without credentials accepted")
	}
	if _, err := Build("r", "custom", []Credential{{"a", "b"}}, nil); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("unknown authenticator: %v", err)
	}
	a, err := Build("r", "basic,jwt", []Credential{{"a", "b"}}, []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.(Combined); !ok {
		t.Errorf("basic,jwt is %T", a)
	}
}
