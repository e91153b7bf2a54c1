package launch

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWrap(t *testing.T) {
	got := Wrap([]string{"/bin/meso", "launch"}, []string{"sh", "-c", "echo hi"})
	want := []string{"/bin/meso", "launch", "--", "sh", "-c", "echo hi"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Wrap (-want +got):\n%s", diff)
	}
}

func TestWaitForRelease(t *testing.T) {
	tests := []struct {
		name    string
		in      io.Reader
		wantErr error
		errText string
	}{
		{"released", strings.NewReader("R"), nil, ""},
		{"closed without the byte", strings.NewReader(""), errAborted, ""},
		{"wrong byte", strings.NewReader("x"), nil, "unexpected byte"},
		{"read error", errReader{}, nil, "boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := waitForRelease(tc.in)
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("err %v, want %v", err, tc.wantErr)
				}
			case tc.errText != "":
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Errorf("err %v, want one mentioning %q", err, tc.errText)
				}
			case err != nil:
				t.Errorf("err %v, want nil", err)
			}
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

func TestMainWithoutCommand(t *testing.T) {
	var stderr bytes.Buffer
	if code := Main([]string{"--"}, &stderr); code != ExitExecFailed {
		t.Errorf("exit %d, want %d", code, ExitExecFailed)
	}
	if !strings.Contains(stderr.String(), "no command given") {
		t.Errorf("stderr %q", stderr.String())
	}
}
