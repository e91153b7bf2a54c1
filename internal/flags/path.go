package flags

import "strings"

// Path is a flag holding a file path, as stout's Path flags: a value
// "file:///x" names the file /x and is not replaced by its contents (Parse
// skips file:// expansion for it), so that --credentials=file:///etc/creds
// and --credentials=/etc/creds mean the same file.
type Path struct{ Value string }

// Set implements flag.Value.
func (p *Path) Set(s string) error {
	p.Value = strings.TrimPrefix(s, "file://")
	return nil
}

// String implements flag.Value.
func (p *Path) String() string {
	if p == nil {
		return ""
	}
	return p.Value
}

// IsPathFlag marks the flag for Parse: no file:// expansion.
func (p *Path) IsPathFlag() bool { return true }

type pathFlag interface{ IsPathFlag() bool }
