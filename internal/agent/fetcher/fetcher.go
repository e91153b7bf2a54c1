package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// DefaultStallTimeout is Mesos's default --fetcher_stall_timeout.
const DefaultStallTimeout = 60 * time.Second

// Options tune a Fetch. The zero value is usable.
type Options struct {
	// StallTimeout aborts a download that moves less than 1 byte/s for this
	// long (--fetcher_stall_timeout); zero means DefaultStallTimeout.
	StallTimeout time.Duration
	// Log receives the lines Mesos's fetcher writes to the sandbox's
	// stderr, one per line; nil discards them.
	Log io.Writer
	// Client downloads http:// and https:// URIs; nil means a client with
	// no overall timeout (the stall timeout bounds a download instead).
	Client *http.Client
	// FrameworksHome is prepended to relative local paths
	// (--frameworks_home); empty makes such URIs an error, as in Mesos.
	FrameworksHome string
	// Limits bound archive extraction; zero fields take the defaults.
	Limits Limits
}

// Fetch fetches each URI into sandbox in order and stops at the first
// failure, as mesos-fetcher exits on the first URI it cannot fetch. The
// error reads "Failed to fetch '<uri>': <reason>", Mesos's line.
func Fetch(ctx context.Context, uris []*mesospb.CommandInfo_URI, sandbox string, opts Options) error {
	opts = opts.withDefaults()
	root, err := os.OpenRoot(sandbox)
	if err != nil {
		return fmt.Errorf("open sandbox %q: %w", sandbox, err)
	}
	defer root.Close()

	items := make([]Item, len(uris))
	for i, uri := range uris {
		items[i] = Item{URI: uri, Action: BypassCache}
	}
	return fetchItems(ctx, root, sandbox, "", items, opts)
}

// fetchItems is mesos-fetcher's main loop over FetcherInfo's items.
func fetchItems(ctx context.Context, root *os.Root, sandbox, cacheDir string, items []Item, opts Options) error {
	for _, item := range items {
		uri := item.URI
		var fetched string
		var err error
		if item.Action == BypassCache || item.Action == "" {
			fetched, err = fetchOne(ctx, root, sandbox, uri, opts)
		} else {
			fetched, err = fetchThroughCache(ctx, root, sandbox, cacheDir, item, opts)
		}
		if err != nil {
			err = fmt.Errorf("Failed to fetch '%s': %w", uri.GetValue(), err)
			logf(opts.Log, "%v", err)
			return err
		}
		logf(opts.Log, "Fetched '%s' to '%s'", uri.GetValue(), fetched)
	}
	logf(opts.Log, "Successfully fetched all URIs into '%s'", sandbox)
	return nil
}

func (o Options) withDefaults() Options {
	if o.StallTimeout <= 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	o.Limits = o.Limits.withDefaults()
	return o
}

func logf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, format+"\n", args...)
}

// fetchOne mirrors mesos-fetcher's fetch + fetchBypassingCache and returns
// the sandbox path it logs as fetched.
func fetchOne(ctx context.Context, root *os.Root, sandbox string, uri *mesospb.CommandInfo_URI, opts Options) (string, error) {
	value := uri.GetValue()
	logf(opts.Log, "Fetching URI '%s'", value)
	// A URI with cache: true comes here too when the agent's cache could
	// not serve it (Mesos's fallback, docs/fetcher.md "Bypassing the
	// cache"), or when Fetch is called without a plan.
	logf(opts.Log, "Fetching '%s' directly into the sandbox directory", value)

	rel, dest, err := destination(root, sandbox, uri)
	if err != nil {
		return "", err
	}
	if err := download(ctx, root, rel, dest, value, opts); err != nil {
		return "", err
	}

	if uri.GetExecutable() {
		// S_IRWXU | S_IRGRP | S_IXGRP | S_IROTH | S_IXOTH, as chmodExecutable.
		if err := root.Chmod(rel, 0o755); err != nil {
			return "", fmt.Errorf("Failed to chmod executable '%s': %w", dest, err)
		}
		return dest, nil
	}
	if uri.GetExtract() { // GetExtract returns the proto default, true.
		extracted, err := extract(root, rel, dest, sandbox, opts.Limits)
		if err != nil {
			return "", err
		}
		if extracted {
			logf(opts.Log, "Extracted '%s' into '%s'", dest, sandbox)
		} else {
			logf(opts.Log, "Copying instead of extracting resource from URI with 'extract' flag, because it does not seem to be an archive: %s", value)
		}
	}
	return dest, nil
}

// destination is where uri lands in the sandbox (rel inside root, dest
// absolute): output_file, whose directories it creates, or the basename.
func destination(root *os.Root, sandbox string, uri *mesospb.CommandInfo_URI) (rel, dest string, err error) {
	value := uri.GetValue()
	base, err := Basename(value)
	if err != nil {
		return "", "", err
	}
	rel = base
	if uri.OutputFile != nil {
		if err := ValidateOutputFile(uri.GetOutputFile()); err != nil {
			return "", "", err
		}
		rel = path.Clean(uri.GetOutputFile())
		if dir := path.Dir(rel); dir != "." {
			if err := root.MkdirAll(dir, 0o755); err != nil {
				return "", "", fmt.Errorf("Unable to create subdirectory %s in sandbox: %w", dir, err)
			}
		}
	} else if base == "" || base == "." || base == ".." {
		// Mesos would join an empty basename to the sandbox itself and fail
		// opening it; say why instead.
		return "", "", fmt.Errorf("URI '%s' has no file name to fetch to", value)
	}
	return rel, filepath.Join(sandbox, filepath.FromSlash(rel)), nil
}

// Basename is Mesos's Fetcher::basename: the text after the last '/' of
// the URI's path, with no query or fragment parsing.
func Basename(uri string) (string, error) {
	if strings.ContainsAny(uri, "\\'\x00") {
		return "", errors.New("Illegal characters in URI")
	}
	if i := strings.Index(uri, "://"); i > 1 {
		p := uri[i+3:]
		slash := strings.IndexByte(p, '/')
		if slash < 0 || len(p) <= slash+1 {
			return "", fmt.Errorf("Malformed URI (missing path): %s", uri)
		}
		return p[strings.LastIndexByte(p, '/')+1:], nil
	}
	return path.Base(strings.TrimRight(uri, "/")), nil
}

// ValidateOutputFile is Mesos's Fetcher::validateOutputFile, plus a refusal
// of ".." components: Mesos leaves "check the directory is inside the
// sandbox" as a TODO, while here nothing may land outside it.
func ValidateOutputFile(p string) error {
	if p == "" {
		return errors.New("URI output file path is empty")
	}
	if strings.HasPrefix(p, "/") || !filepath.IsLocal(filepath.FromSlash(p)) {
		return errors.New("URI output file must be within the sandbox directory")
	}
	return nil
}

// download copies or downloads value to rel inside root (dest is the same
// path, absolute, for messages), as mesos-fetcher's download().
func download(ctx context.Context, root *os.Root, rel, dest, value string, opts Options) error {
	source := strings.TrimLeft(value, " \t\n\r")

	if local, ok, err := localPath(source, opts.FrameworksHome); err != nil {
		return err
	} else if ok {
		return copyLocal(root, local, rel)
	}

	if strings.HasPrefix(source, "http://") || strings.HasPrefix(source, "https://") {
		logf(opts.Log, "Downloading resource from '%s' to '%s'", source, dest)
		return downloadHTTP(ctx, root, rel, source, opts)
	}
	// Mesos hands ftp:// and ftps:// to libcurl and everything else to the
	// Hadoop client; neither is here, so say which URI and why.
	scheme := source
	if i := strings.Index(source, "://"); i >= 0 {
		scheme = source[:i+3]
	}
	return fmt.Errorf("unsupported URI scheme '%s' in '%s': only http://, https://, file:// and local paths are fetched", scheme, value)
}

// localPath is Mesos's Fetcher::uriToLocalPath: "file://" URIs and strings
// without "://" are local; ok is false for other URIs.
func localPath(uri, frameworksHome string) (p string, ok bool, err error) {
	fileURI := strings.HasPrefix(uri, "file://")
	if !fileURI && strings.Contains(uri, "://") {
		return "", false, nil
	}
	p = strings.TrimPrefix(strings.TrimPrefix(uri, "file://"), "localhost")
	if !filepath.IsAbs(p) {
		if fileURI {
			return "", false, errors.New("File URI only supports absolute paths")
		}
		if frameworksHome == "" {
			return "", false, errors.New("A relative path was passed for the resource but the " +
				"Mesos framework home was not specified. Please either provide this config " +
				"option or avoid using a relative path")
		}
		p = filepath.Join(frameworksHome, p)
	}
	return p, true, nil
}

func copyLocal(root *os.Root, src, rel string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy '%s': %w", src, err)
	}
	defer in.Close()
	if fi, err := in.Stat(); err != nil {
		return fmt.Errorf("copy '%s': %w", src, err)
	} else if fi.IsDir() {
		return fmt.Errorf("copy '%s': is a directory", src)
	}
	out, err := root.OpenFile(rel, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("copy '%s': %w", src, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy '%s': %w", src, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy '%s': %w", src, err)
	}
	return nil
}

// errStalled is the cause of a download aborted by the stall timeout.
var errStalled = errors.New("stalled")

func downloadHTTP(ctx context.Context, root *os.Root, rel, source string, opts Options) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// curl's LOW_SPEED_LIMIT=1 / LOW_SPEED_TIME=stall: every stall period,
	// fewer bytes than seconds in it (at least one) aborts the transfer.
	// The clock runs from the request, so a server that never answers
	// headers stalls too.
	var received atomic.Int64
	need := max(int64(opts.StallTimeout/time.Second), 1)
	ticker := time.NewTicker(opts.StallTimeout)
	defer ticker.Stop()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-ticker.C:
				if received.Swap(0) < need {
					cancel(errStalled)
					return
				}
			}
		}
	}()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, source, nil)
	if err != nil {
		return fmt.Errorf("Error downloading resource: %w", err)
	}
	resp, err := opts.Client.Do(req)
	if err != nil {
		return downloadError(ctx, opts.StallTimeout, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("Error downloading resource, received HTTP return code %d", resp.StatusCode)
	}

	out, err := root.OpenFile(rel, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("Error downloading resource: %w", err)
	}
	_, err = io.Copy(out, countingReader{resp.Body, &received})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return downloadError(ctx, opts.StallTimeout, err)
	}
	return nil
}

func downloadError(ctx context.Context, stall time.Duration, err error) error {
	if errors.Is(context.Cause(ctx), errStalled) {
		// curl's text for CURLE_OPERATION_TIMEDOUT, which Mesos reports.
		return fmt.Errorf("Error downloading resource: Timeout was reached (less than 1 byte/s for %v)", stall)
	}
	return fmt.Errorf("Error downloading resource: %w", err)
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
