package zookeeper

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseURL(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "zk")
	if err := os.WriteFile(good, []byte("\n  zk://u:p@h1:1,h2:2/mesos  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nested := filepath.Join(dir, "nested")
	if err := os.WriteFile(nested, []byte("file://"+good), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("10.0.0.1:5050"), 0o600); err != nil {
		t.Fatal(err)
	}
	digest := func(creds string) *Auth { return &Auth{Scheme: "digest", Credentials: creds} }
	tests := []struct {
		in   string
		want *URL // nil: an error
	}{
		{in: "zk://localhost:2181/mesos", want: &URL{Servers: []string{"localhost:2181"}, Path: "/mesos"}},
		{in: "zk://h1:1,h2:2,h3:3/mesos", want: &URL{Servers: []string{"h1:1", "h2:2", "h3:3"}, Path: "/mesos"}},
		{in: "zk://10.0.0.1:2181/a/b/c", want: &URL{Servers: []string{"10.0.0.1:2181"}, Path: "/a/b/c"}},
		{in: " zk://h:1/mesos\n", want: &URL{Servers: []string{"h:1"}, Path: "/mesos"}},
		{in: "zk://h/mesos", want: &URL{Servers: []string{"h:2181"}, Path: "/mesos"}},
		{in: "zk://[::1]:2182/mesos", want: &URL{Servers: []string{"[::1]:2182"}, Path: "/mesos"}},
		{in: "zk://[::1]/mesos", want: &URL{Servers: []string{"[::1]:2181"}, Path: "/mesos"}},
		{in: "zk://user:pass@h1:1,h2:2/mesos", want: &URL{Servers: []string{"h1:1", "h2:2"}, Path: "/mesos", Auth: digest("user:pass")}},
		// Credentials end at the last '@'; the path starts at the first '/'.
		{in: "zk://us@er:p@ss@h:1/m", want: &URL{Servers: []string{"h:1"}, Path: "/m", Auth: digest("us@er:p@ss")}},
		{in: "zk://user:@h:1/m", want: &URL{Servers: []string{"h:1"}, Path: "/m", Auth: digest("user:")}},
		{in: "zk://h:1/a@b", want: &URL{Servers: []string{"h:1"}, Path: "/a@b"}},
		{in: "file://" + good, want: &URL{Servers: []string{"h1:1", "h2:2"}, Path: "/mesos", Auth: digest("u:p")}},

		{in: ""},
		{in: "localhost:2181/mesos"},
		{in: "http://h:1/mesos"},
		{in: "zk://h:1"},
		{in: "zk://h:1/"},
		{in: "zk:///mesos"},
		{in: "zk://u:p@/mesos"},
		{in: "zk://user@h:1/mesos"},
		{in: "zk://h1:1,,h2:2/mesos"},
		{in: "zk://h1:1,/mesos"},
		{in: "zk://h:x/mesos"},
		{in: "zk://h:0/mesos"},
		{in: "zk://h:70000/mesos"},
		{in: "zk://h:/mesos"},
		{in: "zk://::1/mesos"},
		{in: "zk://h:1/a//b"},
		{in: "zk://h:1/a/"},
		{in: "zk://h:1/a/../b"},
		{in: "zk://h:1/a/./b"},
		{in: "zk://h:1/a\x01b"},
		{in: "zk://h:1/a\x00b"},
		{in: "file://" + nested},
		{in: "file://" + bad},
		{in: "file://" + filepath.Join(dir, "missing")},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.in)
		if tt.want == nil {
			if !errors.Is(err, ErrInvalidURL) {
				t.Errorf("ParseURL(%q) = %v, %v; want ErrInvalidURL", tt.in, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseURL(%q) (-want +got):\n%s", tt.in, diff)
		}
		back, err := ParseURL(got.String())
		if err != nil || !cmp.Equal(back, got) {
			t.Errorf("ParseURL(%q).String() = %q parses to %v, %v", tt.in, got.String(), back, err)
		}
	}
}

func TestURLString(t *testing.T) {
	u, err := ParseURL("zk://user:secret@h1:1,h2:2/mesos")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.String(), "zk://user:secret@h1:1,h2:2/mesos"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got, want := u.Redacted(), "zk://user:xxxxx@h1:1,h2:2/mesos"; got != want {
		t.Errorf("Redacted = %q, want %q", got, want)
	}
	_, err = ParseURL("zk://user:secret@h1:x/mesos")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("error %v shows the password", err)
	}
}

func TestParseMember(t *testing.T) {
	tests := []struct {
		name string
		want Member
		ok   bool
	}{
		{"json.info_0000000007", Member{ID: 7, Label: "json.info", Path: "/m/json.info_0000000007"}, true},
		{"info_0000000012", Member{ID: 12, Label: "info", Path: "/m/info_0000000012"}, true},
		{"0000000003", Member{ID: 3, Path: "/m/0000000003"}, true},
		{"a_b_0000000001", Member{ID: 1, Label: "a_b", Path: "/m/a_b_0000000001"}, true},
		{"_0000000001", Member{ID: 1, Path: "/m/_0000000001"}, true},
		{"log_replicas", Member{}, false},
		{"json.info_", Member{}, false},
		{"json.info_-1", Member{}, false},
		{"json.info_+1", Member{}, false},
		{"json.info_99999999999999999999", Member{}, false},
		{"", Member{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseMember("/m", tt.name)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseMember(%q) = %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"zk://localhost:2181/mesos", "zk://u:p@h1:1,h2:2/a/b", "zk://[::1]/m", "zk://h:1/",
		"zk://a@b@c:1/x", "zk://h:1,,/m", "zk:///", "zk://h:1/a/../b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.HasPrefix(strings.TrimSpace(s), "file://") {
			return // reads files
		}
		u, err := ParseURL(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidURL) {
				t.Fatalf("ParseURL(%q) error %v does not wrap ErrInvalidURL", s, err)
			}
			return
		}
		if len(u.Servers) == 0 || !strings.HasPrefix(u.Path, "/") || u.Path == "/" {
			t.Fatalf("ParseURL(%q) = %+v", s, u)
		}
		if u.Auth != nil && u.Auth.Credentials != "" && strings.Contains(u.Redacted(), "@") &&
			!strings.Contains(u.Redacted(), ":xxxxx@") {
			t.Fatalf("Redacted(%q) = %q", s, u.Redacted())
		}
		back, err := ParseURL(u.String())
		if err != nil {
			t.Fatalf("ParseURL(%q).String() = %q: %v", s, u.String(), err)
		}
		if !cmp.Equal(back, u) {
			t.Fatalf("round trip of %q: %+v != %+v", s, back, u)
		}
	})
}
