//go:build unix

package users

import (
	"os"
	"os/user"
	"strings"
	"testing"
)

func TestCredential(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Skip("no current user:", err)
	}
	cred, err := Credential(me.Username)
	if err != nil {
		t.Fatal(err)
	}
	if int(cred.Uid) != os.Getuid() || int(cred.Gid) != os.Getgid() {
		t.Errorf("Credential(%s) = uid %d gid %d, want %d %d", me.Username, cred.Uid, cred.Gid, os.Getuid(), os.Getgid())
	}
	if _, err := Credential("no-such-user-meso"); err == nil || !strings.Contains(err.Error(), "no-such-user-meso") {
		t.Errorf("unknown user: %v", err)
	}
}
