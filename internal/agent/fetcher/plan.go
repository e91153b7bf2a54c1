package fetcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// Action is what the fetch does with one URI (Mesos's
// FetcherInfo.Item.Action); the Cache picks it.
type Action string

// Mesos's three actions.
const (
	// BypassCache fetches straight into the sandbox.
	BypassCache Action = "BYPASS_CACHE"
	// DownloadAndCache downloads into the cache file, then copies (or
	// extracts) it into the sandbox.
	DownloadAndCache Action = "DOWNLOAD_AND_CACHE"
	// RetrieveFromCache copies (or extracts) a cache file already there.
	RetrieveFromCache Action = "RETRIEVE_FROM_CACHE"
)

// Item is one URI of a Plan (Mesos's FetcherInfo.Item).
type Item struct {
	URI    *mesospb.CommandInfo_URI
	Action Action
	// CacheFilename is the file in the plan's cache directory, for the
	// cache actions.
	CacheFilename string
}

// Plan is what a fetch does, decided by the agent's Cache and carried out
// by Run, in the agent or inside the container (Mesos's FetcherInfo, which
// the agent hands mesos-fetcher as JSON in MESOS_FETCHER_INFO; the JSON
// field names are FetcherInfo's, plus container_id for the error message).
type Plan struct {
	ContainerID      string
	Items            []Item
	SandboxDirectory string
	// CacheDirectory is the user's cache directory (the cache directory
	// itself, or <cache dir>/<user>).
	CacheDirectory string
	// User is who the fetch is for; the fetch runs as that user (the
	// launch helper has already switched to it), as mesos-fetcher does
	// after os::su.
	User           string
	FrameworksHome string
	StallTimeout   time.Duration
}

type itemJSON struct {
	URI           json.RawMessage `json:"uri"`
	Action        Action          `json:"action"`
	CacheFilename string          `json:"cache_filename,omitempty"`
}

type durationJSON struct {
	Nanoseconds int64 `json:"nanoseconds"`
}

type planJSON struct {
	ContainerID      string        `json:"container_id,omitempty"`
	Items            []itemJSON    `json:"items"`
	SandboxDirectory string        `json:"sandbox_directory"`
	CacheDirectory   string        `json:"cache_directory,omitempty"`
	User             string        `json:"user,omitempty"`
	FrameworksHome   string        `json:"frameworks_home,omitempty"`
	StallTimeout     *durationJSON `json:"stall_timeout,omitempty"`
}

var uriJSON = protojson.MarshalOptions{UseProtoNames: true}

// MarshalJSON writes p as Mesos's FetcherInfo JSON.
func (p Plan) MarshalJSON() ([]byte, error) {
	out := planJSON{ContainerID: p.ContainerID, Items: make([]itemJSON, len(p.Items)),
		SandboxDirectory: p.SandboxDirectory, CacheDirectory: p.CacheDirectory, User: p.User,
		FrameworksHome: p.FrameworksHome}
	if p.StallTimeout > 0 {
		out.StallTimeout = &durationJSON{Nanoseconds: int64(p.StallTimeout)}
	}
	for i, it := range p.Items {
		b, err := uriJSON.Marshal(it.URI)
		if err != nil {
			return nil, fmt.Errorf("fetch plan: %w", err)
		}
		out.Items[i] = itemJSON{URI: b, Action: it.Action, CacheFilename: it.CacheFilename}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (p *Plan) UnmarshalJSON(b []byte) error {
	var in planJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*p = Plan{ContainerID: in.ContainerID, Items: make([]Item, len(in.Items)),
		SandboxDirectory: in.SandboxDirectory, CacheDirectory: in.CacheDirectory, User: in.User,
		FrameworksHome: in.FrameworksHome}
	if in.StallTimeout != nil {
		p.StallTimeout = time.Duration(in.StallTimeout.Nanoseconds)
	}
	for i, it := range in.Items {
		u := &mesospb.CommandInfo_URI{}
		if err := protojson.Unmarshal(it.URI, u); err != nil {
			return fmt.Errorf("fetch plan item %d: %w", i, err)
		}
		switch it.Action {
		case BypassCache, DownloadAndCache, RetrieveFromCache:
		default:
			return fmt.Errorf("fetch plan item %d: unknown action %q", i, it.Action)
		}
		p.Items[i] = Item{URI: u, Action: it.Action, CacheFilename: it.CacheFilename}
	}
	return nil
}

// Run carries out plan, URI by URI, stopping at the first failure as
// mesos-fetcher does. opts.StallTimeout and opts.FrameworksHome are taken
// from the plan. The error reads Mesos's "Failed to fetch all URIs for
// container '<id>': Failed to fetch '<uri>': <reason>".
func Run(ctx context.Context, plan Plan, opts Options) error {
	opts.StallTimeout = plan.StallTimeout
	opts.FrameworksHome = plan.FrameworksHome
	opts = opts.withDefaults()
	err := run(ctx, plan, opts)
	if err != nil {
		return fmt.Errorf("Failed to fetch all URIs for container '%s': %w", plan.ContainerID, err)
	}
	return nil
}

func run(ctx context.Context, plan Plan, opts Options) error {
	if plan.SandboxDirectory == "" {
		return errors.New("Missing sandbox directory")
	}
	root, err := os.OpenRoot(plan.SandboxDirectory)
	if err != nil {
		return fmt.Errorf("open sandbox %q: %w", plan.SandboxDirectory, err)
	}
	defer root.Close()
	for _, it := range plan.Items {
		if it.Action != BypassCache && it.Action != "" {
			// Mesos's createCacheDirectory: the agent has made it (and
			// given it to the user); a fetch as that user only checks.
			if err := os.MkdirAll(plan.CacheDirectory, 0o755); err != nil {
				return fmt.Errorf("Could not create the fetcher cache directory: %w", err)
			}
			break
		}
	}
	return fetchItems(ctx, root, plan.SandboxDirectory, plan.CacheDirectory, plan.Items, opts)
}

// RunJSON decodes a Plan (as MarshalJSON writes it) and runs it, with the
// fetcher's lines written to log: the launch helper's fetch step, inside the
// container (cmd/meso wires it into package launch).
func RunJSON(ctx context.Context, plan []byte, log io.Writer) error {
	var p Plan
	if err := json.Unmarshal(plan, &p); err != nil {
		return fmt.Errorf("Failed to parse the fetch plan: %w", err)
	}
	return Run(ctx, p, Options{Log: log})
}

// fetchThroughCache is mesos-fetcher's fetchThroughCache: download into
// the cache file when this fetch is the one caching the URI, then take the
// sandbox's copy from the cache file.
func fetchThroughCache(ctx context.Context, sandbox *os.Root, sandboxDir, cacheDir string, item Item, opts Options) (string, error) {
	if cacheDir == "" {
		return "", errors.New("Cache directory not specified")
	}
	if item.CacheFilename == "" || filepath.Base(item.CacheFilename) != item.CacheFilename {
		return "", fmt.Errorf("No cache file name for: %s", item.URI.GetValue())
	}
	cache, err := os.OpenRoot(cacheDir)
	if err != nil {
		return "", fmt.Errorf("open the fetcher cache directory: %w", err)
	}
	defer cache.Close()
	if item.Action == DownloadAndCache {
		if _, err := cache.Stat(item.CacheFilename); errors.Is(err, os.ErrNotExist) {
			cachePath := filepath.Join(cacheDir, item.CacheFilename)
			if err := download(ctx, cache, item.CacheFilename, cachePath, item.URI.GetValue(), opts); err != nil {
				return "", err
			}
		}
	}
	return fetchFromCache(sandbox, sandboxDir, cache, cacheDir, item, opts)
}

// fetchFromCache is mesos-fetcher's fetchFromCache: the cache file is
// copied (and chmodded when executable) or extracted into the sandbox; an
// extracted archive is not copied (only its contents land in the sandbox,
// as Mesos documents).
func fetchFromCache(sandbox *os.Root, sandboxDir string, cache *os.Root, cacheDir string, item Item, opts Options) (string, error) {
	uri := item.URI
	logf(opts.Log, "Fetching URI '%s' from cache", uri.GetValue())
	rel, dest, err := destination(sandbox, sandboxDir, uri)
	if err != nil {
		return "", err
	}
	source := filepath.Join(cacheDir, item.CacheFilename)
	if uri.GetExecutable() {
		if err := copyLocal(sandbox, source, rel); err != nil {
			return "", err
		}
		if err := sandbox.Chmod(rel, 0o755); err != nil {
			return "", fmt.Errorf("Failed to chmod executable '%s': %w", dest, err)
		}
		return dest, nil
	}
	if uri.GetExtract() {
		extracted, err := extractInto(cache, item.CacheFilename, sandbox, source, sandboxDir, opts.Limits)
		if err != nil {
			return "", err
		}
		if extracted {
			logf(opts.Log, "Extracted '%s' into '%s'", source, sandboxDir)
			return sandboxDir, nil
		}
		logf(opts.Log, "Copying instead of extracting resource from URI with 'extract' flag, because it does not seem to be an archive: %s", uri.GetValue())
	}
	if err := copyLocal(sandbox, source, rel); err != nil {
		return "", err
	}
	return dest, nil
}
