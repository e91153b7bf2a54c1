package registry

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/pb/registrypb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

// FuzzDecodeRecord feeds record decoding (what Recover does with every
// record of a store) arbitrary keys and values: it must not panic, and a
// record it accepts must encode back to a record that decodes to the same
// entry under the same key.
func FuzzDecodeRecord(f *testing.F) {
	seed := func(kind Kind, seq uint64, msg proto.Message) {
		v, err := encodeRecord(kind, &entry{seq: seq, msg: msg})
		if err != nil {
			f.Fatal(err)
		}
		name := "0"
		if kind != KindSchedules {
			if name, err = nameOf(kind, msg); err != nil {
				f.Fatal(err)
			}
		}
		f.Add(string(kind), name, v)
	}
	seed(KindAgents, 3, &registrypb.Registry_Slave{Info: agentInfo("a1")})
	seed(KindUnreachable, 4, &registrypb.Registry_UnreachableSlave{Id: agentID("a/1"), Timestamp: timeInfo(t0)})
	seed(KindMaster, 1, &registrypb.Registry_Master{Info: masterInfo("m1")})
	seed(KindWeights, 9, &registrypb.Registry_Weight{Info: weight("eng/web", 2)})
	seed(KindQuotaConfigs, 2, quotaConfig("eng", map[string]float64{"cpus": 1}, nil))
	seed(KindSchedules, 5, schedule("h1"))
	seed(KindMachines, 6, &registrypb.Registry_Machine{Info: &mesospb.MachineInfo{Id: machine("H1")}})
	f.Add("agents", "x", []byte{0x1a, 0x00})
	f.Fuzz(func(t *testing.T, kind, name string, value []byte) {
		key := Key{Kind: Kind(kind), Name: name}
		e, err := decodeRecord(key, value)
		if err != nil {
			return
		}
		again, err := encodeRecord(key.Kind, e)
		if err != nil {
			t.Fatalf("accepted record %s does not encode again: %v", key, err)
		}
		e2, err := decodeRecord(key, again)
		if err != nil {
			t.Fatalf("re-encoded record %s does not decode: %v", key, err)
		}
		// NaN is a value a record may hold (a scalar attribute), and is not
		// equal to itself.
		if e.seq != e2.seq || !cmp.Equal(e.msg, e2.msg, protocmp.Transform(), cmpopts.EquateNaNs()) {
			t.Fatalf("record %s changed through an encode/decode round trip", key)
		}
		// A whole store of such records loads.
		if _, err := loadState([]Entry{{Key: key, Value: value}}, discardLogger()); err != nil {
			t.Fatalf("loadState rejected a record decodeRecord accepts: %v", err)
		}
	})
}

// FuzzEscapeName checks that every ID or role becomes a valid record name,
// and that distinct ones never share a name (the escaping reverses).
func FuzzEscapeName(f *testing.F) {
	for _, s := range []string{"", ".", "..", "a/b", "%", "%2E", "20261130-S0", "é\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name := escapeName(s)
		if err := (Key{Kind: KindWeights, Name: name}).Valid(); err != nil {
			t.Fatalf("escapeName(%q) = %q: %v", s, name, err)
		}
		if got, ok := unescapeName(name); !ok || got != s {
			t.Fatalf("escapeName(%q) = %q, which reads back as %q (%v)", s, name, got, ok)
		}
		for i := 0; i < len(name); i++ {
			c := name[i]
			if c >= 0x80 || c < 0x20 || c == '/' || c == '+' {
				t.Fatalf("escapeName(%q) = %q holds %q", s, name, c)
			}
		}
	})
}

// unescapeName reverses escapeName.
func unescapeName(name string) (string, bool) {
	if name == "%" {
		return "", true
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] != '%' {
			b.WriteByte(name[i])
			continue
		}
		if i+3 > len(name) {
			return "", false
		}
		var v byte
		for _, c := range name[i+1 : i+3] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= byte(c - '0')
			case c >= 'A' && c <= 'F':
				v |= byte(c - 'A' + 10)
			default:
				return "", false
			}
		}
		b.WriteByte(v)
		i += 2
	}
	return b.String(), true
}
