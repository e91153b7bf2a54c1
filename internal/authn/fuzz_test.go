package authn

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzParseCredentials: the credentials parser never panics, and what it
// accepts round-trips through Mesos's JSON format.
func FuzzParseCredentials(f *testing.F) {
	for _, s := range []string{
		`{"credentials":[{"principal":"a","secret":"s"}]}`,
		`{"credentials":[{"principal":"a"}]}`,
		`{"principal":"a","secret":"b"}`,
		`{"credentials":[{"principal":1}]}`,
		"a s\n",
		`{"credentials":null}`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		creds, err := ParseCredentials(data)
		if err == nil {
			doc, _ := json.Marshal(map[string][]Credential{"credentials": creds})
			again, err := ParseCredentials(doc)
			if err != nil || len(again) != len(creds) {
				t.Fatalf("round trip of %q: %v %v", doc, again, err)
			}
			for i := range creds {
				if again[i] != creds[i] {
					t.Fatalf("round trip changed %v to %v", creds[i], again[i])
				}
			}
		}
		_, _ = ParseCredential(data)
	})
}

// FuzzAuthenticate: the basic and JWT authenticators never panic and
// accept nothing but the one credential and a token signed with the key.
func FuzzAuthenticate(f *testing.F) {
	key := []byte("k")
	f.Add("Basic YWxpY2U6cHc=")
	f.Add("Bearer " + SignJWT(ExecutorClaims("f", "e", "c"), key))
	f.Add("Bearer a.b.c")
	f.Add("Basic")
	a := Combined{NewBasic("r", []Credential{{"alice", "pw"}}), NewJWT("r", key)}
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header["Authorization"] = []string{header}
		res := a.Authenticate(req)
		if !res.OK {
			return
		}
		if res.Value != "" && res.Value != "alice" {
			t.Fatalf("accepted principal %q", res.Value)
		}
		if res.Value == "" {
			if _, err := VerifyJWT(header[len("Bearer "):], key, time.Now()); err != nil {
				t.Fatalf("accepted a token that does not verify: %v", err)
			}
		}
	})
}
