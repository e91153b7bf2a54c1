package registry

import (
	"strconv"
	"strings"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// escapeName turns an ID, a role or a capability into a record name that is
// a valid bbolt key and znode name whatever it holds: bytes outside
// [A-Za-z0-9._-] become %XX, a name that is all dots ("." and ".." are not
// znode names) has its dots escaped, and the empty string becomes "%" (no
// escape produces a lone %, so names stay distinct). Hierarchical roles such
// as "eng/web" become "eng%2Fweb".
func escapeName(s string) string {
	if s == "" {
		return "%"
	}
	allDots := strings.Trim(s, ".") == ""
	var b strings.Builder
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		plain := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' && !allDots
		if plain {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// masterName is the name of the single record of KindMaster.
const masterName = "info"

func agentKey(kind Kind, id *mesospb.AgentID) Key {
	return Key{Kind: kind, Name: escapeName(id.GetValue())}
}

// machineName identifies a machine as Mesos compares MachineIDs: hostnames
// case-insensitively, and a field that is unset differs from one that is
// set to "". The two parts are joined with '+', which escapeName never
// leaves in a name.
func machineName(id *mesospb.MachineID) string {
	var host, ip string
	if id.Hostname != nil {
		host = escapeName(strings.ToLower(id.GetHostname()))
	}
	if id.Ip != nil {
		ip = escapeName(id.GetIp())
	}
	return host + "+" + ip
}

func sameMachine(a, b *mesospb.MachineID) bool { return machineName(a) == machineName(b) }

func scheduleName(i int) string { return strconv.Itoa(i) }
