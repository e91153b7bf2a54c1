package zookeeper

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// DefaultPort is ZooKeeper's client port, used for a server given without
// one.
const DefaultPort = 2181

// ErrInvalidURL is returned (wrapped) by [ParseURL].
var ErrInvalidURL = errors.New("zookeeper: invalid URL")

// URL is a parsed "zk://[user:password@]host1:port1,host2:port2/path" value
// (the --zk flag of a Mesos master, the zk:// form of --master).
type URL struct {
	// Servers are the ensemble's client addresses, "host:port", in the
	// order given.
	Servers []string
	// Path is the group's znode, e.g. "/mesos": absolute, never "/".
	Path string
	// Auth is the authentication to add to sessions, nil for none.
	Auth *Auth
}

// Auth is a ZooKeeper authentication: a scheme and its credentials.
// Credentials in a zk:// URL are always the "digest" scheme with
// "user:password" credentials.
type Auth struct {
	Scheme      string
	Credentials string
}

// ParseURL parses a zk:// URL as Mesos's zookeeper::URL::parse does
// (src/zookeeper/url.cpp): after "zk://", everything from the first '/' is
// the path and the text before the last '@' of the rest is "user:password"
// credentials for digest authentication. Unlike Mesos, which rejects a
// missing or "/" path only where the URL is used, ParseURL requires an
// absolute path other than "/" (a master's group needs its own znode), and
// it checks the path against ZooKeeper's rules and each server's port. A
// server without a port gets [DefaultPort].
//
// "file:///path/to/file" values are read and the file's trimmed contents
// parsed as a zk:// URL (Mesos's deprecated form).
func ParseURL(s string) (*URL, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "file://"); ok {
		b, err := os.ReadFile(rest)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidURL, err)
		}
		inner := strings.TrimSpace(string(b))
		if strings.HasPrefix(inner, "file://") {
			return nil, fmt.Errorf("%w: %s holds another file:// value", ErrInvalidURL, rest)
		}
		u, err := ParseURL(inner)
		if err != nil {
			return nil, fmt.Errorf("%w (read from %s)", err, rest)
		}
		return u, nil
	}
	rest, ok := strings.CutPrefix(s, "zk://")
	if !ok {
		return nil, fmt.Errorf("%w: %q: expecting 'zk://' at the beginning", ErrInvalidURL, s)
	}
	hosts, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		hosts, path = rest[:i], rest[i:]
	}
	u := &URL{Path: path}
	if i := strings.LastIndexByte(hosts, '@'); i >= 0 {
		creds := hosts[:i]
		if !strings.Contains(creds, ":") {
			return nil, fmt.Errorf("%w: credentials must be of the form user:password", ErrInvalidURL)
		}
		u.Auth = &Auth{Scheme: "digest", Credentials: creds}
		hosts = hosts[i+1:]
	}
	if hosts == "" {
		return nil, fmt.Errorf("%w: %q: no servers", ErrInvalidURL, redact(s, u))
	}
	for _, h := range strings.Split(hosts, ",") {
		server, err := parseServer(h)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrInvalidURL, redact(s, u), err)
		}
		u.Servers = append(u.Servers, server)
	}
	if err := checkPath(path); err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrInvalidURL, redact(s, u), err)
	}
	return u, nil
}

// parseServer checks "host[:port]" and returns "host:port".
func parseServer(h string) (string, error) {
	if h == "" {
		return "", errors.New("empty server in the list")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		// No port: "host" or "[ipv6]".
		switch {
		case strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]"):
			host = h[1 : len(h)-1]
		case strings.ContainsAny(h, ":[]"):
			return "", fmt.Errorf("bad server %q", h)
		default:
			host = h
		}
		port = strconv.Itoa(DefaultPort)
	}
	if host == "" || strings.ContainsAny(host, " \t@[]") {
		return "", fmt.Errorf("bad server %q", h)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return "", fmt.Errorf("bad port in server %q", h)
	}
	return net.JoinHostPort(host, port), nil
}

// checkPath applies ZooKeeper's path rules (PathUtils.validatePath) and
// Mesos's: absolute, not the root, no empty, "." or ".." components, no
// trailing '/', no control characters.
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("missing path (e.g. /mesos)")
	case p == "/":
		return errors.New("path must not be '/' (e.g. /mesos)")
	case strings.HasSuffix(p, "/"):
		return fmt.Errorf("path %q ends with '/'", p)
	}
	for _, part := range strings.Split(p[1:], "/") {
		switch part {
		case "":
			return fmt.Errorf("path %q has an empty component", p)
		case ".", "..":
			return fmt.Errorf("path %q has a relative component", p)
		}
	}
	for _, r := range p {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || (r >= 0xd800 && r <= 0xf8ff) || r >= 0xfff0 && r <= 0xffff {
			return fmt.Errorf("path %q has an invalid character %q", p, r)
		}
	}
	return nil
}

// String returns the URL as "zk://[user:password@]host:port,.../path"; it
// parses back to an equal URL. Use [URL.Redacted] in logs.
func (u *URL) String() string {
	return u.format(false)
}

// Redacted is String with the password replaced by "xxxxx".
func (u *URL) Redacted() string {
	return u.format(true)
}

func (u *URL) format(redacted bool) string {
	var b strings.Builder
	b.WriteString("zk://")
	if u.Auth != nil {
		creds := u.Auth.Credentials
		if redacted {
			user, _, _ := strings.Cut(creds, ":")
			creds = user + ":xxxxx"
		}
		b.WriteString(creds)
		b.WriteByte('@')
	}
	b.WriteString(strings.Join(u.Servers, ","))
	b.WriteString(u.Path)
	return b.String()
}

// redact hides the credentials of a URL being parsed in error messages.
func redact(s string, u *URL) string {
	if u.Auth == nil {
		return s
	}
	return strings.Replace(s, u.Auth.Credentials+"@", "xxxxx@", 1)
}
