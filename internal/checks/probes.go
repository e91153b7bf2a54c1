package checks

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// Hosts the network checks target: the task shares the executor's network
// namespace (command executor) or the executor's container's (task groups).
const (
	ipv4Host = "127.0.0.1"
	ipv6Host = "::1"
)

// target is a network check's address and, for HTTP, its URL.
type target struct {
	scheme string
	host   string
	port   uint32
	path   string
}

// what names an attempt of kind in a timeout message.
func what(kind mesospb.CheckInfo_Type) string {
	switch kind {
	case mesospb.CheckInfo_COMMAND:
		return "Command"
	case mesospb.CheckInfo_HTTP:
		return "HTTP request"
	default:
		return "TCP connection"
	}
}

func commandProbe(r CommandRunner, command *mesospb.CommandInfo) probe {
	return func(ctx context.Context) (*mesospb.CheckStatusInfo, error) {
		code, err := r.Run(ctx, command)
		if err != nil {
			return nil, err
		}
		return &mesospb.CheckStatusInfo{
			Type:    mesospb.CheckInfo_COMMAND.Enum(),
			Command: &mesospb.CheckStatusInfo_Command{ExitCode: proto.Int32(int32(code))},
		}, nil
	}
}

// httpClient behaves as Mesos's `curl -s -S -L -k`: it follows redirects
// and ignores certificate validation; no proxy, no kept connections.
var httpClient = &http.Client{
	Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as curl -k in Mesos
		DisableKeepAlives: true,
	},
}

func httpProbe(t target) probe {
	url := t.scheme + "://" + net.JoinHostPort(t.host, strconv.FormatUint(uint64(t.port), 10)) + t.path
	return func(ctx context.Context) (*mesospb.CheckStatusInfo, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, fmt.Errorf("invalid HTTP check URL %q: %w", url, err)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the response of %s: %w", url, err)
		}
		return &mesospb.CheckStatusInfo{
			Type: mesospb.CheckInfo_HTTP.Enum(),
			Http: &mesospb.CheckStatusInfo_Http{StatusCode: proto.Uint32(uint32(resp.StatusCode))},
		}, nil
	}
}

func tcpProbe(t target) probe {
	addr := net.JoinHostPort(t.host, strconv.FormatUint(uint64(t.port), 10))
	return func(ctx context.Context) (*mesospb.CheckStatusInfo, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if ctx.Err() != nil {
			if conn != nil {
				conn.Close()
			}
			return nil, ctx.Err()
		}
		// Like mesos-tcp-connect's exit status: any failure to connect is
		// "not succeeded", not an error of the check.
		if conn != nil {
			conn.Close()
		}
		return &mesospb.CheckStatusInfo{
			Type: mesospb.CheckInfo_TCP.Enum(),
			Tcp:  &mesospb.CheckStatusInfo_Tcp{Succeeded: proto.Bool(err == nil)},
		}, nil
	}
}

// EmptyStatus is the CheckStatusInfo of ci's type with no result: what a
// task's status updates carry before the first result, and after a failed
// attempt (Mesos's createEmptyCheckStatusInfo).
func EmptyStatus(ci *mesospb.CheckInfo) *mesospb.CheckStatusInfo {
	cs := &mesospb.CheckStatusInfo{Type: ci.GetType().Enum()}
	switch ci.GetType() {
	case mesospb.CheckInfo_COMMAND:
		cs.Command = &mesospb.CheckStatusInfo_Command{}
	case mesospb.CheckInfo_HTTP:
		cs.Http = &mesospb.CheckStatusInfo_Http{}
	case mesospb.CheckInfo_TCP:
		cs.Tcp = &mesospb.CheckStatusInfo_Tcp{}
	}
	return cs
}

// Healthy interprets a check's result as a health check does: nil for exit
// code 0, an HTTP status in [200, 400) or a TCP connection that succeeded;
// else an error saying why, in Mesos's words.
func Healthy(cs *mesospb.CheckStatusInfo) error {
	switch cs.GetType() {
	case mesospb.CheckInfo_COMMAND:
		if c := cs.GetCommand().GetExitCode(); c != 0 {
			return fmt.Errorf("Command exited with status %d", c)
		}
	case mesospb.CheckInfo_HTTP:
		if c := cs.GetHttp().GetStatusCode(); c < 200 || c >= 400 {
			return fmt.Errorf("Unexpected HTTP response code: %s", statusString(c))
		}
	case mesospb.CheckInfo_TCP:
		if !cs.GetTcp().GetSucceeded() {
			return errors.New("TCP connection failed")
		}
	}
	return nil
}

// statusString is libprocess's Status::string: "404 Not Found".
func statusString(code uint32) string {
	if t := http.StatusText(int(code)); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return strconv.FormatUint(uint64(code), 10)
}
