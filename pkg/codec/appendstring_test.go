package codec

import (
	"encoding/json"
	"testing"
)

// AppendString with encodingJSON writes what json.Marshal writes.
func TestAppendStringAsEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " backslash \`, "<script>&</script>", "\b\f\n\r\t\x00\x1f\x7f",
		"é ü 日本", "bad \xff utf-8 \xc3", "line\u2028para\u2029", "emoji 😀",
	} {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString(nil, s, true); string(got) != string(want) {
			t.Errorf("AppendString(%q, true) = %s, json.Marshal = %s", s, got, want)
		}
	}
}

func FuzzAppendStringAsEncodingJSON(f *testing.F) {
	f.Add("<&>\b\f\u2028\xff")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s, true); string(got) != string(want) {
			t.Errorf("AppendString(%q, true) = %s, json.Marshal = %s", s, got, want)
		}
	})
}
