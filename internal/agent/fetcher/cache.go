package fetcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/users"
)

// DefaultCacheSize is Mesos's --fetcher_cache_size (2GB), and
// DefaultCacheDir its --fetcher_cache_dir.
const (
	DefaultCacheSize = 2 << 30
	DefaultCacheDir  = "/tmp/mesos/fetch"
)

// Metric names (Mesos's FetcherProcess::Metrics).
const (
	MetricTaskFetchesSucceeded = "containerizer/fetcher/task_fetches_succeeded"
	MetricTaskFetchesFailed    = "containerizer/fetcher/task_fetches_failed"
	MetricCacheSizeTotalBytes  = "containerizer/fetcher/cache_size_total_bytes"
	MetricCacheSizeUsedBytes   = "containerizer/fetcher/cache_size_used_bytes"
)

// ErrCacheStopped is returned once the cache is closed.
var ErrCacheStopped = errors.New("fetcher: cache stopped")

// CacheConfig configures a Cache.
type CacheConfig struct {
	// Dir is --fetcher_cache_dir; it is removed when the Cache is made, as
	// the Mesos agent clears it on startup. Required.
	Dir string
	// Size is --fetcher_cache_size in bytes; 0 disables caching (every
	// URI bypasses the cache, Mesos's "ultimate remedy").
	Size uint64
	// FrameworksHome and StallTimeout go into every plan
	// (--frameworks_home, --fetcher_stall_timeout).
	FrameworksHome string
	StallTimeout   time.Duration
	// Client asks http(s) servers for sizes (HEAD); nil: a default client.
	Client *http.Client
	Logger *slog.Logger
}

// Cache is the agent's fetcher (Mesos's FetcherProcess): it decides, for
// each container's URIs, which are fetched through the cache and which
// bypass it (the Plan), keeps the books of the cache (entries keyed by user
// and URI, their files, the space they use, least recently used first) and
// counts fetches. It never downloads anything itself: Run does, in the
// container or in the agent.
//
// Concurrency: Cache is an actor; its methods are safe for concurrent use.
// Prepare may block (it waits for concurrent downloads of the same URIs
// and asks servers for sizes); every Prepare that returned a Lease must be
// followed by one Finish.
type Cache struct {
	cfg CacheConfig
	log *slog.Logger

	mailbox   chan func()
	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once

	// Owned by the loop.
	table     map[string]*cacheEntry
	lru       []*cacheEntry // least recently used first
	tally     uint64        // bytes claimed
	serial    int
	succeeded uint64
	failed    uint64
}

// cacheEntry is a cache file, from before it exists to after it is removed
// (Mesos's Cache::Entry). Fields are owned by the loop except done, which
// is closed once the download ended (ok says how).
type cacheEntry struct {
	key      string
	dir      string
	filename string
	size     uint64 // claimed bytes; 0 until space is reserved
	refs     int
	pending  bool
	ok       bool
	done     chan struct{}
}

func (e *cacheEntry) path() string { return filepath.Join(e.dir, e.filename) }

// NewCache clears cfg.Dir and starts the cache.
func NewCache(cfg CacheConfig) (*Cache, error) {
	if cfg.Dir == "" {
		return nil, errors.New("fetcher: a cache directory is required")
	}
	if err := os.RemoveAll(cfg.Dir); err != nil {
		return nil, fmt.Errorf("fetcher: could not delete fetcher cache directory '%s': %w", cfg.Dir, err)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: time.Minute}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cache{cfg: cfg, log: log, mailbox: make(chan func(), 16), stop: make(chan struct{}),
		stopped: make(chan struct{}), table: make(map[string]*cacheEntry)}
	go c.loop()
	return c, nil
}

func (c *Cache) loop() {
	defer close(c.stopped)
	for {
		select {
		case f := <-c.mailbox:
			f()
		case <-c.stop:
			return
		}
	}
}

// Close stops the cache; the files stay until the next NewCache.
func (c *Cache) Close() {
	c.closeOnce.Do(func() { close(c.stop) })
	<-c.stopped
}

func (c *Cache) call(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case c.mailbox <- func() { f(); close(done) }:
	case <-c.stop:
		return ErrCacheStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-c.stopped:
		select {
		case <-done:
			return nil
		default:
			return ErrCacheStopped
		}
	}
}

// do is call without a caller's context, for the bookkeeping that must
// happen once entries are referenced.
func (c *Cache) do(f func()) error { return c.call(context.Background(), f) }

// Request is one container's fetch.
type Request struct {
	ContainerID string
	Sandbox     string
	// User is who the container runs as ("" when the agent does not
	// switch users): cache entries are per user, in <dir>/<user>.
	User string
	URIs []*mesospb.CommandInfo_URI
}

// Lease is a prepared fetch: the Plan to run, and the cache entries it
// holds until Finish (they cannot be evicted meanwhile).
type Lease struct {
	Plan     Plan
	entries  []*cacheEntry
	finished bool
}

// Prepare decides what the fetch of req does with each URI, as Mesos's
// FetcherProcess::fetch: a URI without cache: true bypasses the cache; one
// cached (or being cached) for the user is retrieved from the cache, after
// waiting for its download; a new one gets a cache entry (its size asked
// of its source, space reserved by evicting the least recently used
// entries nobody holds) and is downloaded into the cache by this fetch.
// Whatever goes wrong on the way (size unknown, no space, the download
// waited for failed) makes that URI bypass the cache, with a warning, as in
// Mesos. It fails only when ctx ends or the cache is closed.
func (c *Cache) Prepare(ctx context.Context, req Request) (*Lease, error) {
	cacheDir := c.cfg.Dir
	if req.User != "" {
		cacheDir = filepath.Join(cacheDir, req.User)
	}
	l := &Lease{Plan: Plan{ContainerID: req.ContainerID, SandboxDirectory: req.Sandbox, CacheDirectory: cacheDir,
		User: req.User, FrameworksHome: c.cfg.FrameworksHome, StallTimeout: c.cfg.StallTimeout,
		Items: make([]Item, len(req.URIs))}}
	// What each URI waits for: an existing entry (wait[i]) or the size of
	// a new one (sized[i]).
	wait := make([]*cacheEntry, len(req.URIs))
	fresh := make([]*cacheEntry, len(req.URIs))
	if err := c.call(ctx, func() {
		created := map[string]*cacheEntry{}
		for i, u := range req.URIs {
			l.Plan.Items[i] = Item{URI: u, Action: BypassCache}
			if !u.GetCache() || c.cfg.Size == 0 {
				continue
			}
			if _, err := Basename(u.GetValue()); err != nil {
				continue // the fetch itself reports it
			}
			if e := created[u.GetValue()]; e != nil {
				// The same URI twice in one fetch: the first downloads,
				// the second copies from the cache (Mesos's newEntries).
				e.refs++
				l.entries = append(l.entries, e)
				fresh[i] = e
				continue
			}
			if e := c.get(req.User, u.GetValue()); e != nil {
				e.refs++
				l.entries = append(l.entries, e)
				wait[i] = e
				continue
			}
			e := c.create(cacheDir, req.User, u)
			e.refs++
			l.entries = append(l.entries, e)
			created[u.GetValue()] = e
			fresh[i] = e
		}
	}); err != nil {
		return nil, err
	}

	// New entries: size, then reservation (Mesos's fetchSize and
	// reserveCacheSpace), one URI after the other.
	owner := map[*cacheEntry]int{} // the item that downloads a new entry
	for i, e := range fresh {
		if e == nil {
			continue
		}
		if first, seen := owner[e]; seen {
			if l.Plan.Items[first].Action == DownloadAndCache {
				l.Plan.Items[i].Action = RetrieveFromCache
				l.Plan.Items[i].CacheFilename = e.filename
			}
			continue
		}
		owner[e] = i
		size, err := fetchSize(ctx, c.cfg.Client, req.URIs[i].GetValue(), c.cfg.FrameworksHome)
		var reserveErr error
		if cerr := c.do(func() {
			if err != nil {
				c.fail(e)
				reserveErr = fmt.Errorf("Could not determine size of cache file for '%s' with error: %w", e.key, err)
				return
			}
			if err := c.reserve(size); err != nil {
				c.fail(e)
				reserveErr = fmt.Errorf("Failed to reserve space in the cache: %w", err)
				return
			}
			c.tally += size
			e.size = size
		}); cerr != nil {
			c.release(l)
			return nil, cerr
		}
		if reserveErr != nil {
			c.log.Warn("reverting to fetching directly into the sandbox", "uri", req.URIs[i].GetValue(),
				"container_id", req.ContainerID, "err", reserveErr)
			continue
		}
		l.Plan.Items[i].Action = DownloadAndCache
		l.Plan.Items[i].CacheFilename = e.filename
	}

	// Entries other fetches are downloading: wait for them.
	for i, e := range wait {
		if e == nil {
			continue
		}
		select {
		case <-e.done:
		case <-ctx.Done():
			c.release(l)
			return nil, ctx.Err()
		}
		var ok bool
		if err := c.do(func() { ok = e.ok }); err != nil {
			c.release(l)
			return nil, err
		}
		if !ok {
			c.log.Warn("reverting to fetching directly into the sandbox: the download into the cache failed",
				"uri", req.URIs[i].GetValue(), "container_id", req.ContainerID)
			continue
		}
		l.Plan.Items[i].Action = RetrieveFromCache
		l.Plan.Items[i].CacheFilename = e.filename
	}
	if l.usesCache() {
		if err := makeCacheDir(cacheDir, req.User); err != nil {
			c.log.Warn("reverting to fetching directly into the sandbox: cannot create the cache directory",
				"dir", cacheDir, "container_id", req.ContainerID, "err", err)
			for i := range l.Plan.Items {
				l.Plan.Items[i].Action, l.Plan.Items[i].CacheFilename = BypassCache, ""
			}
		}
	}
	return l, nil
}

func (l *Lease) usesCache() bool {
	return slices.ContainsFunc(l.Plan.Items, func(it Item) bool { return it.Action != BypassCache })
}

// makeCacheDir creates the user's cache directory and gives it to the user
// (the fetch runs as that user), Mesos's createCacheDirectory.
func makeCacheDir(dir, user string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if user == "" || os.Geteuid() != 0 {
		return nil
	}
	cred, err := users.Credential(user)
	if err != nil {
		return err
	}
	return os.Chown(dir, int(cred.Uid), int(cred.Gid))
}

// Finish settles a prepared fetch (Mesos's __fetch continuations). ran is
// false when the fetch never ran (the launch failed before it): nothing is
// counted, and entries this fetch was to download are dropped. Otherwise
// err says how it went: it counts task_fetches_succeeded or _failed; on
// success the entries this fetch downloaded become resident (their size
// adjusted to the file's, or dropped when the file is larger than
// announced), on failure they are removed with whatever was downloaded.
// Finish is idempotent.
func (c *Cache) Finish(l *Lease, ran bool, err error) {
	if l == nil {
		return
	}
	_ = c.do(func() {
		if l.finished {
			return
		}
		l.finished = true
		if ran && err == nil {
			c.succeeded++
		} else if ran {
			c.failed++
		}
		for _, e := range l.entries {
			e.refs--
			if !e.pending {
				continue
			}
			if !ran || err != nil {
				c.fail(e)
				continue
			}
			if aerr := c.adjust(e); aerr != nil {
				c.log.Warn("failed to adjust the cache size for an entry", "entry", e.key, "err", aerr)
				c.fail(e)
				continue
			}
			e.pending, e.ok = false, true
			close(e.done)
		}
	})
}

// release gives up a lease that will not be run (Prepare failed midway).
func (c *Cache) release(l *Lease) { c.Finish(l, false, nil) }

// Count counts a fetch that did not go through Prepare (a launch with no
// URIs still counts as a successful fetch in Mesos).
func (c *Cache) Count(err error) {
	_ = c.do(func() {
		if err == nil {
			c.succeeded++
		} else {
			c.failed++
		}
	})
}

// Metrics returns the containerizer/fetcher/* metrics.
func (c *Cache) Metrics(ctx context.Context) (map[string]float64, error) {
	out := map[string]float64{}
	err := c.call(ctx, func() {
		out[MetricTaskFetchesSucceeded] = float64(c.succeeded)
		out[MetricTaskFetchesFailed] = float64(c.failed)
		out[MetricCacheSizeTotalBytes] = float64(c.cfg.Size)
		out[MetricCacheSizeUsedBytes] = float64(c.tally)
	})
	return out, err
}

// The rest runs on the loop.

func cacheKey(user, uri string) string {
	if user == "" {
		return uri
	}
	return user + "@" + uri
}

// get is Mesos's Cache::get: a resident entry whose file is gone is
// dropped; a found entry becomes the most recently used.
func (c *Cache) get(user, uri string) *cacheEntry {
	e := c.table[cacheKey(user, uri)]
	if e == nil {
		return nil
	}
	if !e.pending {
		if _, err := os.Stat(e.path()); err != nil {
			c.log.Warn("fetcher cache file is gone; removing its entry", "entry", e.key, "err", err)
			c.remove(e)
			return nil
		}
	}
	c.touch(e)
	return e
}

func (c *Cache) touch(e *cacheEntry) {
	if i := slices.Index(c.lru, e); i >= 0 {
		c.lru = append(slices.Delete(c.lru, i, i+1), e)
	}
}

// create adds a pending entry with a fresh file name (Mesos's nextFilename:
// "c<serial>-<basename>", the basename shortened to its first and last 10
// characters past 20, so that the extension still tells the archive type).
func (c *Cache) create(dir, user string, u *mesospb.CommandInfo_URI) *cacheEntry {
	base, _ := Basename(u.GetValue())
	if len(base) > 20 {
		base = base[:10] + "_" + base[len(base)-10:]
	}
	c.serial++
	e := &cacheEntry{key: cacheKey(user, u.GetValue()), dir: dir, filename: "c" + strconv.Itoa(c.serial) + "-" + base,
		pending: true, done: make(chan struct{})}
	c.table[e.key] = e
	c.lru = append(c.lru, e)
	return e
}

// fail ends a pending entry unsuccessfully and removes it.
func (c *Cache) fail(e *cacheEntry) {
	if e.pending {
		e.pending = false
		close(e.done)
	}
	c.remove(e)
}

// remove drops e from the table with its file and releases its space.
func (c *Cache) remove(e *cacheEntry) {
	if c.table[e.key] == e {
		delete(c.table, e.key)
	}
	if i := slices.Index(c.lru, e); i >= 0 {
		c.lru = slices.Delete(c.lru, i, i+1)
	}
	if err := os.Remove(e.path()); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.log.Warn("could not delete a fetcher cache file, leaking cache space", "path", e.path(), "err", err)
	}
	c.tally -= min(e.size, c.tally)
	e.size = 0
}

func (c *Cache) available() uint64 {
	if c.tally > c.cfg.Size {
		return 0
	}
	return c.cfg.Size - c.tally
}

// reserve evicts least recently used entries nobody holds until size
// bytes are free (Mesos's Cache::reserve and selectVictims).
func (c *Cache) reserve(size uint64) error {
	if size > c.cfg.Size {
		// The cache is simply too small (docs/fetcher.md); Mesos would
		// evict everything and still overflow.
		return errors.New("Could not free up enough fetcher cache space")
	}
	avail := c.available()
	if avail >= size {
		return nil
	}
	missing := size - avail
	var victims []*cacheEntry
	var freed uint64
	for _, e := range c.lru {
		if e.refs > 0 {
			continue
		}
		victims = append(victims, e)
		freed += e.size
		if freed >= missing {
			for _, v := range victims {
				c.log.Debug("evicting a fetcher cache entry", "entry", v.key, "size", v.size)
				c.remove(v)
			}
			return nil
		}
	}
	return errors.New("Could not free up enough fetcher cache space")
}

// adjust sets a downloaded entry's size to its file's: a smaller file
// gives back the difference; a larger one is an error (the entry is then
// dropped, as Mesos deletes cache files larger than announced).
func (c *Cache) adjust(e *cacheEntry) error {
	fi, err := os.Lstat(e.path())
	if err != nil {
		return fmt.Errorf("Fetcher cache file for '%s' disappeared from: %s", e.key, e.path())
	}
	actual := uint64(fi.Size())
	if actual > e.size {
		return fmt.Errorf("More cache size now necessary, not adjusting %s", e.key)
	}
	c.tally -= e.size - actual
	e.size = actual
	return nil
}

// fetchSize is Mesos's fetchSize: a local file's size (following
// symlinks), or an http(s) server's Content-Length, which must be known
// and above zero. Other URIs cannot be cached.
func fetchSize(ctx context.Context, client *http.Client, uri, frameworksHome string) (uint64, error) {
	local, ok, err := localPath(uri, frameworksHome)
	if err != nil {
		return 0, err
	}
	if ok {
		fi, err := os.Stat(local)
		if err != nil {
			return 0, fmt.Errorf("Could not determine file size for: '%s', error: %w", local, err)
		}
		return uint64(fi.Size()), nil
	}
	if !strings.HasPrefix(uri, "http://") && !strings.HasPrefix(uri, "https://") {
		return 0, fmt.Errorf("cannot determine the size of '%s': only http://, https://, file:// and local URIs are cached", uri)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, uri, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HEAD %s: HTTP return code %d", uri, resp.StatusCode)
	}
	if resp.ContentLength <= 0 {
		if resp.ContentLength == 0 {
			return 0, fmt.Errorf("URI reported content-length 0: %s", uri)
		}
		return 0, fmt.Errorf("URI reported no content-length: %s", uri)
	}
	return uint64(resp.ContentLength), nil
}
