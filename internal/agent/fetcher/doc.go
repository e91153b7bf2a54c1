// Package fetcher puts a task's CommandInfo.URIs into its sandbox, the
// work Mesos 1.11 does in its mesos-fetcher program (src/launcher/fetcher.cpp),
// and keeps the agent's fetcher cache (its FetcherProcess,
// src/slave/containerizer/fetcher.cpp).
//
// Cache (cache.go) is an actor owned by the agent: Prepare turns a
// container's URIs into a Plan (Mesos's FetcherInfo: per URI BYPASS_CACHE,
// DOWNLOAD_AND_CACHE or RETRIEVE_FROM_CACHE, with the cache file's name),
// Finish settles the books once the plan ran. Entries are keyed by user and
// URI ("user@uri") and live in <cache dir>/<user> as "c<serial>-<basename>";
// a new entry's size is asked of its source first (a local file's size, an
// http(s) HEAD's Content-Length) and space is reserved by evicting the
// least recently used entries no fetch holds; anything going wrong makes
// the URI bypass the cache, as in Mesos. Run (plan.go) carries a Plan out,
// in the agent or, through RunJSON, in the launch helper inside the
// container. Extraction from the cache puts only the archive's contents in
// the sandbox, as Mesos does.
//
// What is Mesos's and mirrored here:
//   - the destination: <sandbox>/<basename of the URI>, where the basename is
//     whatever follows the last '/' (Mesos's Fetcher::basename, which treats
//     '?' and '=' as ordinary characters), or output_file when set, whose
//     parent directories are created;
//   - the sources: "file://" URIs and local paths (relative ones only with a
//     frameworks home) are copied, http:// and https:// are downloaded, and
//     a status other than 200 fails with Mesos's "Error downloading
//     resource, received HTTP return code <code>";
//   - --fetcher_stall_timeout: a download is aborted when it moves less than
//     1 byte/s for that long (curl's LOW_SPEED_LIMIT/LOW_SPEED_TIME);
//   - executable: true chmods the file 0755 and skips extraction; extract
//     (true by default in the proto) unpacks .tar, .tgz/.tar.gz,
//     .tbz2/.tar.bz2, .txz/.tar.xz and .zip into the sandbox and gunzips a
//     bare .gz next to it, keeping the archive as Mesos does;
//   - the log lines the fetcher writes to the sandbox's stderr ("Fetching
//     URI '<uri>'", "Fetched '<uri>' to '<path>'", ...), without glog's
//     "I0101 00:00:00.000000 pid file:line]" prefix.
//
// Where it is stricter than Mesos: all writes go through an os.Root opened
// on the sandbox, so an output_file or archive entry cannot land outside it.
// Mesos extracts with libarchive's SECURE_NODOTDOT only; here archive entries
// with absolute paths, entries reached through a symlink, symlinks or hard
// links pointing outside the sandbox are refused too, and extraction is
// bounded (Limits) against archive bombs.
//
// Not here: ftp://, ftps:// and hdfs:// (Mesos hands those to libcurl or
// the Hadoop client; here they fail with an error naming the URI, and are
// never cached).
package fetcher
