// Package s3 is async's S3 backend: an objstore.Bucket on
// aws-sdk-go-v2, for AWS and S3-compatible stores.
//
// Small objects are written with one PUT; larger ones with a multipart
// upload whose parts go up in parallel, completed at commit (so the object
// appears whole or not at all). Large objects are read with ranged GETs
// in parallel. Writes are conditional (If-None-Match: *, If-Match: ETag),
// so a precondition is enforced by the store itself. Listings use
// ListObjectsV2 and tolerate a last page that says it is truncated but
// gives no continuation token.
//
// The client is built explicitly (region, endpoint, path style, HTTP
// client); credentials come from the standard AWS chain (environment,
// shared config and profile, IMDS), never from the URL.
package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/async-sync/async/backends/objstore"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/errcode"
)

// Options locate a bucket.
type Options struct {
	Bucket    string
	Endpoint  string // "" for AWS
	Region    string // "" : from the AWS configuration, else us-east-1
	PathStyle bool
	// Credentials, when set, replace the standard chain (tests).
	Credentials aws.CredentialsProvider
	// PartSize is the multipart part size (default 16 MiB); objects up
	// to it are written with one PUT.
	PartSize int64
	// PartConcurrency is how many parts of one object move at once
	// (default 4).
	PartConcurrency int
}

// Bucket is one S3 bucket.
type Bucket struct {
	c *s3.Client
	o Options
}

var (
	_ objstore.Bucket      = (*Bucket)(nil)
	_ objstore.KeyOrdered  = (*Bucket)(nil)
	_ objstore.Conditional = (*Bucket)(nil)
	_ objstore.Resumable   = (*Bucket)(nil)
)

// Open builds the client and checks that the bucket answers.
func Open(ctx context.Context, o Options) (*Bucket, error) {
	if o.PartSize <= 0 {
		o.PartSize = 16 << 20
	}
	if o.PartConcurrency <= 0 {
		o.PartConcurrency = 4
	}
	creds := o.Credentials
	region := o.Region
	if creds == nil || region == "" {
		// Only for the credential chain and the region: the client itself
		// is built below, with our own HTTP client (AWS_CA_BUNDLE and
		// similar ambient settings do not reach it).
		cfg, err := config.LoadDefaultConfig(ctx, config.WithLogger(logging.Nop{}))
		if err != nil {
			return nil, fmt.Errorf("s3: AWS configuration: %w", err)
		}
		if creds == nil {
			creds = cfg.Credentials
		}
		if region == "" {
			region = cfg.Region
		}
	}
	if region == "" {
		region = "us-east-1"
	}
	so := s3.Options{Region: region, Credentials: creds, UsePathStyle: o.PathStyle, HTTPClient: httpClient(),
		RetryMaxAttempts: 5, Logger: logging.Nop{}}
	if o.Endpoint != "" {
		so.BaseEndpoint = aws.String(o.Endpoint)
	}
	b := &Bucket{c: s3.New(so), o: o}
	if _, err := b.c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(o.Bucket)}); err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("s3: bucket %s: %w", o.Bucket, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("s3: bucket %s: %w", o.Bucket, explain(err))
	}
	return b, nil
}

// httpClient keeps many connections to one endpoint open.
func httpClient() *http.Client {
	t := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &http.Client{Transport: t}
}

// unsignedPayload leaves the request body out of the signature: the
// SDK's CRC32 checksum still covers the data in transit (and TLS, where
// used), and the SHA-256 of every byte, which only the signature needed,
// is not computed.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

// ConditionalWrites: S3 enforces If-Match and If-None-Match on writes.
func (b *Bucket) ConditionalWrites() bool { return true }

// Close releases nothing: the HTTP client's idle connections expire.
func (b *Bucket) Close() error { return nil }

// notFound reports a 404 of any kind.
func notFound(err error) bool {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
		return true
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	return errors.As(err, &nsk) || errors.As(err, &nf)
}

// conditionFailed reports a failed If-Match / If-None-Match.
func conditionFailed(err error) bool {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusPreconditionFailed, http.StatusConflict:
			return true
		}
	}
	return false
}

// explain shortens the SDK's errors to the code and message a user can act
// on. A throttled or failing server's refusal (429, 5xx, SlowDown, ...)
// that outlasted the SDK's own retries stays transient (errcode.Of).
func explain(err error) error {
	if errcode.Of(err) == errcode.Transient {
		return errcode.New(errcode.Transient, shorten(err))
	}
	return shorten(err)
}

func shorten(err error) error {
	if strings.Contains(err.Error(), "get credentials") || strings.Contains(err.Error(), "no EC2 IMDS role") {
		return errors.New("no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE")
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "Forbidden":
			return fmt.Errorf("access denied (%s): check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE)", ae.ErrorCode())
		}
		return fmt.Errorf("%s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden {
		return errors.New("access denied (403): check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE)")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("cannot reach %s: %w", ue.URL, ue.Err)
	}
	return err
}

func etag(s *string) string { return strings.Trim(aws.ToString(s), `"`) }

// List lists every object under prefix.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(objstore.Object) error) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(b.o.Bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(1000)}
	for {
		out, err := b.c.ListObjectsV2(ctx, in)
		if err != nil {
			return explain(err)
		}
		for _, o := range out.Contents {
			obj := objstore.Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: etag(o.ETag), Modified: aws.ToTime(o.LastModified)}
			if err := fn(obj); err != nil {
				return err
			}
		}
		// Some servers end with an empty page that still says truncated:
		// without a token there is nothing more to ask for.
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextContinuationToken) == "" {
			return nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// ListsInKeyOrder: ListObjectsV2 lists keys in ascending UTF-8 byte
// order (objstore.KeyOrdered). A server that does not costs a scan: core
// notices and lists the tree whole.
func (b *Bucket) ListsInKeyOrder() bool { return true }

// Head returns an object with its metadata.
func (b *Bucket) Head(ctx context.Context, key string) (objstore.Object, error) {
	out, err := b.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.o.Bucket), Key: aws.String(key)})
	if err != nil {
		if notFound(err) {
			return objstore.Object{}, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
		}
		return objstore.Object{}, explain(err)
	}
	return objstore.Object{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: etag(out.ETag),
		Modified: aws.ToTime(out.LastModified), Meta: lower(out.Metadata)}, nil
}

// lower returns metadata with lower-case keys (stores differ in case).
func lower(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// rangeChunk is the size of the ranged GETs of a large object.
const rangeChunk = 8 << 20

// Get reads an object from offset: small objects (and the first range of
// large ones) with one GET, the rest with parallel ranged GETs.
func (b *Bucket) Get(ctx context.Context, key string, offset int64) (io.ReadCloser, objstore.Object, error) {
	first, obj, total, err := b.getRange(ctx, key, offset, rangeChunk)
	if err != nil {
		return nil, objstore.Object{}, err
	}
	next := offset + rangeChunk
	if next >= total {
		return first, obj, nil
	}
	r := &rangeReader{b: b, key: key, etag: obj.ETag, cur: first, next: next, total: total}
	r.ctx, r.cancel = context.WithCancel(ctx)
	r.fill()
	return r, obj, nil
}

// getRange reads [off, off+n) and reports the object and its total size.
func (b *Bucket) getRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, objstore.Object, int64, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(b.o.Bucket), Key: aws.String(key),
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))}
	out, err := b.c.GetObject(ctx, in)
	if err != nil {
		var re *awshttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusRequestedRangeNotSatisfiable {
			// At or past the end: an empty read, and the size from a HEAD.
			o, herr := b.Head(ctx, key)
			if herr != nil {
				return nil, objstore.Object{}, 0, herr
			}
			return io.NopCloser(bytes.NewReader(nil)), o, o.Size, nil
		}
		if notFound(err) {
			return nil, objstore.Object{}, 0, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
		}
		return nil, objstore.Object{}, 0, explain(err)
	}
	total := aws.ToInt64(out.ContentLength)
	if cr := aws.ToString(out.ContentRange); cr != "" {
		if i := strings.LastIndexByte(cr, '/'); i >= 0 {
			if t, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
				total = t
			}
		}
	}
	o := objstore.Object{Key: key, Size: total, ETag: etag(out.ETag), Modified: aws.ToTime(out.LastModified), Meta: lower(out.Metadata)}
	return out.Body, o, total, nil
}

// rangeReader reads a large object with up to rangeAhead ranged GETs in
// flight, each pinned to the ETag first seen (If-Match), so that a changed
// object fails the read instead of mixing versions.
type rangeReader struct {
	b      *Bucket
	ctx    context.Context
	cancel context.CancelFunc
	key    string
	etag   string
	cur    io.ReadCloser
	next   int64 // first byte not yet requested
	total  int64
	queue  []chan rangeResult
}

type rangeResult struct {
	data []byte
	err  error
}

const rangeAhead = 4

func (r *rangeReader) fill() {
	for len(r.queue) < rangeAhead && r.next < r.total {
		off, n := r.next, min(rangeChunk, r.total-r.next)
		r.next += n
		ch := make(chan rangeResult, 1)
		r.queue = append(r.queue, ch)
		go func() {
			in := &s3.GetObjectInput{Bucket: aws.String(r.b.o.Bucket), Key: aws.String(r.key),
				Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1)), IfMatch: aws.String(`"` + r.etag + `"`)}
			out, err := r.b.c.GetObject(r.ctx, in)
			if err != nil {
				ch <- rangeResult{err: explain(err)}
				return
			}
			defer out.Body.Close()
			buf := make([]byte, n)
			_, err = io.ReadFull(out.Body, buf)
			ch <- rangeResult{data: buf, err: err}
		}()
	}
}

func (r *rangeReader) Read(p []byte) (int, error) {
	for {
		if r.cur != nil {
			n, err := r.cur.Read(p)
			if err == io.EOF {
				r.cur.Close()
				r.cur = nil
				if n > 0 {
					return n, nil
				}
				continue
			}
			return n, err
		}
		if len(r.queue) == 0 {
			return 0, io.EOF
		}
		res := <-r.queue[0]
		r.queue = r.queue[1:]
		if res.err != nil {
			return 0, fmt.Errorf("read %s: %w", r.key, res.err)
		}
		r.cur = io.NopCloser(bytes.NewReader(res.data))
		r.fill()
	}
}

func (r *rangeReader) Close() error {
	r.cancel()
	if r.cur != nil {
		r.cur.Close()
	}
	return nil
}

// NewWriter starts an upload: buffered up to PartSize for a single PUT,
// multipart beyond.
func (b *Bucket) NewWriter(ctx context.Context, key string, o objstore.WriteOptions) (objstore.ObjectWriter, error) {
	return &writer{b: b, ctx: ctx, key: key, o: o}, nil
}

type writer struct {
	b   *Bucket
	ctx context.Context
	key string
	o   objstore.WriteOptions
	buf []byte

	upload string // multipart upload id, once started
	parts  []types.CompletedPart
	// marker, for a resumable upload, is the hidden object that names
	// its upload id for a later run; cand are the whole parts an earlier
	// run left, not yet checked against the source; offset is what the
	// parts kept after that check hold.
	marker string
	cand   []types.Part
	offset int64
	mu     sync.Mutex
	wg     sync.WaitGroup
	sem    chan struct{}
	err    error // the first failed part
}

func (w *writer) Write(p []byte) (int, error) {
	if err := w.failed(); err != nil {
		return 0, err
	}
	w.cand = nil // never checked: the parts are uploaded again
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), int(w.b.o.PartSize)-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == int(w.b.o.PartSize) && len(p) > 0 {
			if err := w.flushPart(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// flushPart uploads the buffer as the next part, starting the multipart
// upload first if needed.
func (w *writer) flushPart() error {
	if w.upload == "" {
		out, err := w.b.c.CreateMultipartUpload(w.ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(w.b.o.Bucket),
			Key: aws.String(w.key), Metadata: w.o.Meta, ChecksumAlgorithm: w.checksum()})
		if err != nil {
			return fmt.Errorf("start multipart upload: %w", explain(err))
		}
		w.upload = aws.ToString(out.UploadId)
		if w.marker != "" {
			// Written before any part: a crash from here on leaves an
			// upload the next run can find.
			if _, err := w.b.c.PutObject(w.ctx, &s3.PutObjectInput{Bucket: aws.String(w.b.o.Bucket), Key: aws.String(w.marker),
				Body: strings.NewReader(w.upload)}); err != nil {
				return fmt.Errorf("note the upload for resuming: %w", explain(err))
			}
		}
	}
	if w.sem == nil {
		w.sem = make(chan struct{}, w.b.o.PartConcurrency)
	}
	num := int32(len(w.parts) + 1)
	w.parts = append(w.parts, types.CompletedPart{PartNumber: aws.Int32(num)})
	data := w.buf
	w.buf = make([]byte, 0, w.b.o.PartSize)
	w.sem <- struct{}{}
	w.wg.Go(func() {
		defer func() { <-w.sem }()
		out, err := w.b.c.UploadPart(w.ctx, &s3.UploadPartInput{Bucket: aws.String(w.b.o.Bucket), Key: aws.String(w.key),
			UploadId: aws.String(w.upload), PartNumber: aws.Int32(num), Body: bytes.NewReader(data),
			ContentLength: aws.Int64(int64(len(data))), ChecksumAlgorithm: w.checksum()}, unsignedPayload)
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			if w.err == nil {
				w.err = fmt.Errorf("upload part %d: %w", num, explain(err))
			}
			return
		}
		w.parts[num-1].ETag = out.ETag
		w.parts[num-1].ChecksumSHA256 = out.ChecksumSHA256
	})
	return w.failed()
}

// checksum is the checksum S3 computes, checks and keeps (-k sha256), or
// none (the SDK's default CRC32 still checks the transfer).
func (w *writer) checksum() types.ChecksumAlgorithm {
	if w.o.ChecksumSHA256 {
		return types.ChecksumAlgorithmSha256
	}
	return ""
}

// Commit finishes the upload: one PUT for what fit in one part, or the
// last part and the completion of the multipart upload.
func (w *writer) Commit() (objstore.Object, error) {
	var ifMatch, ifNone *string
	if w.o.IfMatch != "" {
		ifMatch = aws.String(`"` + w.o.IfMatch + `"`)
	}
	if w.o.IfNoneMatch {
		ifNone = aws.String("*")
	}
	if w.upload == "" {
		out, err := w.b.c.PutObject(w.ctx, &s3.PutObjectInput{Bucket: aws.String(w.b.o.Bucket), Key: aws.String(w.key),
			Body: bytes.NewReader(w.buf), ContentLength: aws.Int64(int64(len(w.buf))), Metadata: w.o.Meta,
			IfMatch: ifMatch, IfNoneMatch: ifNone, ChecksumAlgorithm: w.checksum()}, unsignedPayload)
		if err != nil {
			if conditionFailed(err) {
				return objstore.Object{}, objstore.ErrConditionFailed
			}
			return objstore.Object{}, explain(err)
		}
		// The store's LastModified is not in the answer; entries take their
		// mtime from the metadata async writes on every object.
		return objstore.Object{Key: w.key, Size: int64(len(w.buf)), ETag: etag(out.ETag), Modified: time.Now(), Meta: w.o.Meta}, nil
	}
	if len(w.buf) > 0 {
		if err := w.flushPart(); err != nil {
			w.Abort()
			return objstore.Object{}, err
		}
	}
	w.wg.Wait()
	if err := w.failed(); err != nil {
		w.Abort()
		return objstore.Object{}, err
	}
	_, err := w.b.c.CompleteMultipartUpload(w.ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(w.b.o.Bucket),
		Key: aws.String(w.key), UploadId: aws.String(w.upload), MultipartUpload: &types.CompletedMultipartUpload{Parts: w.parts},
		IfMatch: ifMatch, IfNoneMatch: ifNone})
	if err != nil {
		w.Abort()
		if conditionFailed(err) {
			return objstore.Object{}, objstore.ErrConditionFailed
		}
		return objstore.Object{}, fmt.Errorf("complete multipart upload: %w", explain(err))
	}
	w.dropMarker()
	return w.b.Head(w.ctx, w.key)
}

func (w *writer) dropMarker() {
	if w.marker != "" {
		w.b.c.DeleteObject(context.WithoutCancel(w.ctx), &s3.DeleteObjectInput{Bucket: aws.String(w.b.o.Bucket), Key: aws.String(w.marker)})
	}
}

// Offset is how many bytes an earlier run already uploaded, as far as
// VerifyResume found them to be the source's.
func (w *writer) Offset() int64 { return w.offset }

// VerifyResume keeps the earlier run's parts, in order, as long as each
// holds the source's bytes for its range: its ETag is their MD5 (and its
// SHA-256 checksum, when it has one or -k sha256 asks for one, theirs).
// The first part in doubt and all after it are uploaded again: a part cut
// short by a crash can be listed whole (versitygw links what it received
// into a file already allocated to the announced size).
func (w *writer) VerifyResume(ctx context.Context, open func() (io.ReadCloser, error)) error {
	cand := w.cand
	w.cand = nil
	if len(cand) == 0 {
		return nil
	}
	if len(w.parts) > 0 || len(w.buf) > 0 {
		return errors.New("s3: resumed upload checked after writing")
	}
	r, err := open()
	if err != nil {
		return err
	}
	defer r.Close()
	for _, p := range cand {
		if err := ctx.Err(); err != nil {
			return err
		}
		same, err := w.holds(p, r)
		if err != nil {
			w.parts = nil
			return fmt.Errorf("read the source of part %d: %w", aws.ToInt32(p.PartNumber), err)
		}
		if !same {
			break
		}
		w.parts = append(w.parts, types.CompletedPart{PartNumber: p.PartNumber, ETag: p.ETag, ChecksumSHA256: p.ChecksumSHA256})
	}
	w.offset = int64(len(w.parts)) * w.b.o.PartSize
	return nil
}

// holds reads the next PartSize bytes of the source from r and reports
// whether the uploaded part p is those bytes. A source that ends first
// does not match.
func (w *writer) holds(p types.Part, r io.Reader) (bool, error) {
	if aws.ToInt64(p.Size) != w.b.o.PartSize {
		return false, nil
	}
	sumMD5 := md5.New()
	var sumSHA hash.Hash
	dst := io.Writer(sumMD5)
	wantSHA := aws.ToString(p.ChecksumSHA256)
	if wantSHA != "" || w.o.ChecksumSHA256 {
		sumSHA = sha256.New()
		dst = io.MultiWriter(sumMD5, sumSHA)
	}
	if _, err := io.CopyN(dst, r, w.b.o.PartSize); err != nil {
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, err
	}
	if !strings.EqualFold(etag(p.ETag), hex.EncodeToString(sumMD5.Sum(nil))) {
		return false, nil // not these bytes, or an ETag that is no MD5
	}
	if sumSHA != nil && wantSHA != base64.StdEncoding.EncodeToString(sumSHA.Sum(nil)) {
		return false, nil
	}
	return true, nil
}

// Keep leaves the multipart upload (and its marker) for the next run, once
// the parts in flight have landed.
func (w *writer) Keep() error {
	w.wg.Wait()
	w.upload = ""
	return nil
}

// markerKey is the hidden object next to key that names the upload of a
// partial transfer.
func markerKey(key, partial string) string {
	dir := ""
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		dir = key[:i+1]
	}
	return dir + core.PartialPrefix + partial
}

// ResumeWriter continues the multipart upload an earlier run left for
// this partial transfer (its whole leading parts, once VerifyResume has
// checked them against the source), or starts one whose marker lets a
// later run continue it.
func (b *Bucket) ResumeWriter(ctx context.Context, key, partial string, o objstore.WriteOptions) (objstore.ResumableWriter, error) {
	w := &writer{b: b, ctx: ctx, key: key, o: o, marker: markerKey(key, partial)}
	out, err := b.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.o.Bucket), Key: aws.String(w.marker)})
	if err != nil {
		if notFound(err) {
			return w, nil
		}
		return nil, explain(err)
	}
	id, err := io.ReadAll(io.LimitReader(out.Body, 4096))
	out.Body.Close()
	if err != nil {
		return nil, err
	}
	byNum := map[int32]types.Part{}
	in := &s3.ListPartsInput{Bucket: aws.String(b.o.Bucket), Key: aws.String(key), UploadId: aws.String(string(id))}
	for range maxPartPages {
		out, err := b.c.ListParts(ctx, in)
		if err != nil {
			w.dropMarker() // the upload is gone: start over
			return w, nil
		}
		for _, p := range out.Parts {
			byNum[aws.ToInt32(p.PartNumber)] = p
		}
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextPartNumberMarker) == "" {
			break
		}
		in.PartNumberMarker = out.NextPartNumberMarker
	}
	for n := int32(1); ; n++ {
		p, ok := byNum[n]
		if !ok || aws.ToInt64(p.Size) != b.o.PartSize {
			break
		}
		w.cand = append(w.cand, p)
	}
	w.upload = string(id)
	return w, nil
}

// maxPartPages bounds the ListParts pages read: S3 uploads have at most
// 10000 parts, listed 1000 to a page.
const maxPartPages = 20

// AbortStale aborts the session's multipart uploads under prefix whose
// markers (named with token) were left before cutoff, and drops the
// markers. Uploads and objects async cannot prove its own are left alone.
func (b *Bucket) AbortStale(ctx context.Context, prefix, token string, cutoff time.Time) error {
	if token == "" {
		return nil
	}
	var markers []string
	err := b.List(ctx, prefix, func(o objstore.Object) error {
		name := o.Key[strings.LastIndexByte(o.Key, '/')+1:]
		if strings.HasPrefix(name, core.PartialPrefix+token+"-") && o.Modified.Before(cutoff) {
			markers = append(markers, o.Key)
		}
		return nil
	})
	if err != nil || len(markers) == 0 {
		return err
	}
	ids := map[string]bool{}
	for _, m := range markers {
		out, err := b.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.o.Bucket), Key: aws.String(m)})
		if err != nil {
			continue
		}
		id, _ := io.ReadAll(io.LimitReader(out.Body, 4096))
		out.Body.Close()
		ids[string(id)] = true
	}
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(b.o.Bucket), Prefix: aws.String(prefix)}
	for {
		out, err := b.c.ListMultipartUploads(ctx, in)
		if err != nil {
			return explain(err)
		}
		for _, u := range out.Uploads {
			if ids[aws.ToString(u.UploadId)] {
				b.c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(b.o.Bucket), Key: u.Key, UploadId: u.UploadId})
			}
		}
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextKeyMarker) == "" {
			break
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
	for _, m := range markers {
		if err := b.Delete(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// Abort drops a multipart upload (a single PUT has not started yet).
func (w *writer) Abort() error {
	if w.upload == "" {
		w.buf = nil
		return nil
	}
	defer w.dropMarker()
	w.wg.Wait()
	_, err := w.b.c.AbortMultipartUpload(context.WithoutCancel(w.ctx), &s3.AbortMultipartUploadInput{Bucket: aws.String(w.b.o.Bucket),
		Key: aws.String(w.key), UploadId: aws.String(w.upload)})
	w.upload = ""
	return err
}

// Copy copies an object inside the bucket, replacing its metadata when
// meta is not nil.
func (b *Bucket) Copy(ctx context.Context, from, to string, meta map[string]string) (objstore.Object, error) {
	in := &s3.CopyObjectInput{Bucket: aws.String(b.o.Bucket), Key: aws.String(to),
		CopySource: aws.String(b.o.Bucket + "/" + escapeKey(from))}
	if meta != nil {
		in.Metadata = meta
		in.MetadataDirective = types.MetadataDirectiveReplace
	}
	if _, err := b.c.CopyObject(ctx, in); err != nil {
		if notFound(err) {
			return objstore.Object{}, fmt.Errorf("%s: %w", from, fs.ErrNotExist)
		}
		return objstore.Object{}, explain(err)
	}
	return b.Head(ctx, to)
}

// escapeKey escapes a key for x-amz-copy-source, keeping the slashes.
func escapeKey(k string) string {
	parts := strings.Split(k, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// Delete removes an object.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	_, err := b.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.o.Bucket), Key: aws.String(key)})
	if err != nil && !notFound(err) {
		return explain(err)
	}
	return nil
}
