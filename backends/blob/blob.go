// Package blob is async's backend for the buckets of gocloud.dev/blob:
// Google Cloud Storage, Azure Blob Storage, gocloud's in-memory buckets and
// its directory-backed buckets. It provides an objstore.Bucket; package
// objstore maps async's tree onto it.
//
// # URLs
//
// Open takes gocloud's bucket URLs, with one change and one addition:
//
//	mem://                          a new, empty in-memory bucket
//	gs://BUCKET[/PREFIX]            a Google Cloud Storage bucket
//	azblob://CONTAINER[/PREFIX]     an Azure Blob Storage container
//	blob+file:///DIR                gocloud's fileblob, rooted at DIR
//
// The change: fileblob's scheme is written "blob+file", because a plain
// file:// URL means a local directory to async; "blob+" is stripped before
// the URL reaches gocloud (any scheme may carry it).
//
// The addition: the tree async works on may lie below a key prefix, a
// directory of the bucket. It is given by the "prefix" query parameter, for
// every scheme, or by the URL's path for the schemes whose path gocloud
// ignores (mem, gs, azblob); giving both is an error. So gs://b/photos and
// gs://b?prefix=photos/ are the same tree. For blob+file the path is the
// bucket's directory, never a prefix. Open returns the prefix without
// leading or trailing slashes, ready for objstore.New. Every other query
// parameter is gocloud's (for example azblob's "protocol" and "domain", or
// fileblob's "create_dir" and "no_tmp_dir"); gocloud's "key" parameter is
// refused. Credentials come from each driver's usual sources (Application
// Default Credentials, AZURE_STORAGE_ACCOUNT and friends), never from the URL.
//
// # Mapping
//
// Listings are flat (no delimiter). gocloud gives no ETag in listings, so
// an object's change token is derived from what both a listing and a HEAD
// report: its size, modification time and, when the store keeps one, the
// MD5 of its content. It changes whenever the object is rewritten and is
// stable otherwise. Where no MD5 is kept (Azure blobs uploaded in blocks,
// fileblob objects written by other programs) and the store's clock is
// coarse (Azure: one second), two writes of the same size within one tick
// give the same token.
//
// Writes go through blob.Writer, which makes the object visible only when
// it is closed; an aborted write cancels the writer's context, which
// gocloud turns into a dropped upload. WriteOptions.IfNoneMatch maps to
// gocloud's IfNotExist. gocloud has no If-Match, so Bucket does not
// implement objstore.Conditional and objstore checks preconditions with a
// HEAD just before the commit. WriteOptions.ChecksumSHA256 is ignored.
//
// gocloud cannot replace metadata on a server-side copy, so Copy with new
// metadata (which is how objstore sets attributes) reads the object and
// writes it again: it costs a download and an upload of the whole object.
//
// # Drivers
//
// This package links gocloud's in-memory and directory drivers only. The
// GCS and Azure drivers double the size of a binary and add about 10 ms to
// its every start (their package initialisation), so the async binary
// leaves them out: gs:// and azblob:// are served by the plugin programs
// async-backend-gs and async-backend-azblob (cmd/), which link one driver
// each and call OpenBackend. async starts them only for such a URL.
//
// Limits: gocloud's GCS driver reports "permission denied" as "not found";
// fileblob cannot store a name (one path component) longer than 234 bytes,
// since its temporary and metadata files add a suffix to it.
package blob

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // blob+file://
	_ "gocloud.dev/blob/memblob"  // mem://
	"gocloud.dev/gcerrors"

	"github.com/async-sync/async/backends/objstore"
	"github.com/async-sync/async/core"
)

// Bucket is an objstore.Bucket over a gocloud bucket.
type Bucket struct {
	b        *blob.Bucket
	keyOrder bool // List passes keys in byte order
}

var (
	_ objstore.Bucket     = (*Bucket)(nil)
	_ objstore.KeyOrdered = (*Bucket)(nil)
)

// New returns the objstore.Bucket for an open gocloud bucket; closing it
// closes b. Its listing is taken to be in no order (see ListsInKeyOrder).
func New(b *blob.Bucket) *Bucket { return &Bucket{b: b} }

// ListsInKeyOrder reports whether List passes the keys in byte order
// (objstore.KeyOrdered): gocloud.dev promises it for every driver, and
// keeps it for those Open opens but the directory-backed one (fileblob
// walks directories, which puts "a/c" before "a.b").
func (b *Bucket) ListsInKeyOrder() bool { return b.keyOrder }

// Open opens the bucket of a gocloud URL (mem://, gs://BUCKET,
// azblob://CONTAINER, blob+file:///DIR) and returns it with the key prefix
// the URL selects, "" for the whole bucket (see the package documentation
// for the rule). It fails when the bucket does not answer.
func Open(ctx context.Context, rawURL string) (*Bucket, string, error) {
	u, prefix, err := parseURL(rawURL)
	if err != nil {
		return nil, "", err
	}
	b, err := blob.DefaultURLMux().OpenBucketURL(ctx, u)
	if err != nil {
		return nil, "", fmt.Errorf("open %s: %w", rawURL, err)
	}
	ok, err := b.IsAccessible(ctx)
	if err == nil && !ok {
		err = fmt.Errorf("%w, or no access", fs.ErrNotExist)
	}
	if err != nil {
		b.Close()
		return nil, "", fmt.Errorf("open %s: bucket: %w", rawURL, err)
	}
	nb := New(b)
	nb.keyOrder = u.Scheme != "file"
	return nb, prefix, nil
}

// parseURL splits a URL into the one gocloud opens and the key prefix.
func parseURL(rawURL string) (*url.URL, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", fmt.Errorf("bucket URL: %w", err)
	}
	u.Scheme = strings.TrimPrefix(strings.ToLower(u.Scheme), "blob+")
	switch u.Scheme {
	case "":
		return nil, "", fmt.Errorf("bucket URL %q: no scheme", rawURL)
	case "file":
		if u.Path == "" {
			return nil, "", fmt.Errorf("bucket URL %q: no directory", rawURL)
		}
	default:
		if u.Host == "" && u.Scheme != "mem" {
			return nil, "", fmt.Errorf("bucket URL %q: no bucket name", rawURL)
		}
	}
	q := u.Query()
	if q.Has("key") {
		return nil, "", fmt.Errorf("bucket URL %q: the key parameter is not supported", rawURL)
	}
	prefix := q.Get("prefix")
	if u.Scheme != "file" {
		if p := strings.Trim(u.Path, "/"); p != "" {
			if prefix != "" {
				return nil, "", fmt.Errorf("bucket URL %q: a prefix both in the path and in the query", rawURL)
			}
			prefix = p
		}
		u.Path, u.RawPath = "", ""
	}
	q.Del("prefix")
	u.RawQuery = q.Encode()
	prefix = strings.Trim(prefix, "/")
	if prefix != "" && (path.Clean(prefix) != prefix || prefix == "." || prefix == ".." || strings.HasPrefix(prefix, "../")) {
		return nil, "", fmt.Errorf("bucket URL %q: bad prefix %q", rawURL, prefix)
	}
	return u, prefix, nil
}

// token is an object's change token; see the package documentation.
func token(size int64, mod time.Time, md5 []byte) string {
	t := strconv.FormatInt(size, 10) + "-" + strconv.FormatInt(mod.UnixNano(), 36)
	if len(md5) > 0 {
		t += fmt.Sprintf("-%x", md5)
	}
	return t
}

func object(key string, a *blob.Attributes) objstore.Object {
	return objstore.Object{Key: key, Size: a.Size, ETag: token(a.Size, a.ModTime, a.MD5),
		Modified: a.ModTime, Meta: a.Metadata}
}

// wrap adds context to err, and fs.ErrNotExist to a store's "not found".
func wrap(op, key string, err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("%s %s: %w (%w)", op, key, fs.ErrNotExist, err)
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}

// List calls fn for every object below prefix, recursively.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(objstore.Object) error) error {
	it := b.b.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return wrap("list", prefix, err)
		}
		if o.IsDir {
			continue
		}
		err = fn(objstore.Object{Key: o.Key, Size: o.Size, ETag: token(o.Size, o.ModTime, o.MD5), Modified: o.ModTime})
		if err != nil {
			return err
		}
	}
}

// Head returns an object's attributes and metadata.
func (b *Bucket) Head(ctx context.Context, key string) (objstore.Object, error) {
	a, err := b.b.Attributes(ctx, key)
	if err != nil {
		return objstore.Object{}, wrap("head", key, err)
	}
	return object(key, a), nil
}

// Get reads an object from offset. The object's metadata comes from a HEAD
// made just before; the read is retried when the object it opens is not the
// one the HEAD described.
func (b *Bucket) Get(ctx context.Context, key string, offset int64) (io.ReadCloser, objstore.Object, error) {
	for try := 0; ; try++ {
		a, err := b.b.Attributes(ctx, key)
		if err != nil {
			return nil, objstore.Object{}, wrap("get", key, err)
		}
		r, err := b.b.NewRangeReader(ctx, key, offset, -1, nil)
		if err != nil {
			return nil, objstore.Object{}, wrap("get", key, err)
		}
		// Readers may carry a coarser time (an HTTP Last-Modified).
		if r.Size() == a.Size && r.ModTime().Truncate(time.Second).Equal(a.ModTime.Truncate(time.Second)) {
			return r, object(key, a), nil
		}
		r.Close()
		if try == 2 {
			return nil, objstore.Object{}, fmt.Errorf("get %s: the object keeps changing", key)
		}
	}
}

// NewWriter starts an upload; the object appears when it is committed.
func (b *Bucket) NewWriter(ctx context.Context, key string, o objstore.WriteOptions) (objstore.ObjectWriter, error) {
	wctx, cancel := context.WithCancel(ctx)
	w, err := b.b.NewWriter(wctx, key, &blob.WriterOptions{Metadata: o.Meta, IfNotExist: o.IfNoneMatch})
	if err != nil {
		cancel()
		return nil, wrap("write", key, err)
	}
	return &writer{b: b, ctx: ctx, key: key, w: w, cancel: cancel}, nil
}

type writer struct {
	b      *Bucket
	ctx    context.Context
	key    string
	w      *blob.Writer
	cancel context.CancelFunc
}

func (w *writer) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		err = w.err(err)
	}
	return n, err
}

// err maps a failed IfNotExist to objstore.ErrConditionFailed.
func (w *writer) err(err error) error {
	switch gcerrors.Code(err) {
	case gcerrors.FailedPrecondition, gcerrors.AlreadyExists:
		return fmt.Errorf("write %s: %w (%w)", w.key, objstore.ErrConditionFailed, err)
	}
	return wrap("write", w.key, err)
}

// Commit closes the upload and returns the stored object.
func (w *writer) Commit() (objstore.Object, error) {
	err := w.w.Close()
	w.cancel()
	if err != nil {
		return objstore.Object{}, w.err(err)
	}
	return w.b.Head(w.ctx, w.key)
}

// Abort cancels the upload; nothing is stored.
func (w *writer) Abort() error {
	w.cancel()
	w.w.Close() // reports the cancellation
	return nil
}

// Copy copies an object inside the bucket. With meta, the object is read
// and written again, since gocloud cannot replace metadata on a copy.
func (b *Bucket) Copy(ctx context.Context, from, to string, meta map[string]string) (objstore.Object, error) {
	if meta == nil {
		if err := b.b.Copy(ctx, to, from, nil); err != nil {
			return objstore.Object{}, wrap("copy", from, err)
		}
		return b.Head(ctx, to)
	}
	r, src, err := b.Get(ctx, from, 0)
	if err != nil {
		return objstore.Object{}, err
	}
	defer r.Close()
	w, err := b.NewWriter(ctx, to, objstore.WriteOptions{Size: src.Size, Meta: meta})
	if err != nil {
		return objstore.Object{}, err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Abort()
		return objstore.Object{}, fmt.Errorf("copy %s to %s: %w", from, to, err)
	}
	return w.Commit()
}

// Delete removes an object; a missing one is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	err := b.b.Delete(ctx, key)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return wrap("delete", key, err)
	}
	return nil
}

// Close closes the gocloud bucket.
func (b *Bucket) Close() error { return b.b.Close() }

// OpenBackend opens the bucket of a gocloud URL as Open does and returns
// async's backend over it: the open function of the cloud drivers' plugin
// programs (cmd/async-backend-gs, cmd/async-backend-azblob), which link
// the drivers that the async binary leaves out.
func OpenBackend(ctx context.Context, rawURL string) (core.Backend, error) {
	b, prefix, err := Open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	return objstore.New(b, prefix, objstore.Options{}), nil
}
