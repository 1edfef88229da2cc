package photo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Store keeps photo blobs under keys the server chooses.
type Store interface {
	// Put stores data under key, replacing nothing: keys are unique.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the blob of key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Delete removes the blob of key; a missing blob is not an error.
	Delete(ctx context.Context, key string) error
}

// ErrNotFound is returned by Get for a key with no blob.
var ErrNotFound = fmt.Errorf("photo: not found: %w", fs.ErrNotExist)

// keyRe is the form of every key: random, no path tricks possible.
var keyRe = regexp.MustCompile(`^[a-z0-9]{20,64}(\.thumb)?\.jpg$`)

func checkKey(key string) error {
	if !keyRe.MatchString(key) {
		return fmt.Errorf("photo: bad key %q", key)
	}
	return nil
}

// Dir stores photos in a local directory (mode 0700, files 0600), never
// served from a public path.
type Dir struct {
	Path string

	// A photo is kept once its name is in the directory on disk: after
	// renaming it into place, Put syncs the directory. Puts at once share
	// a sync: each takes a ticket after its rename, and a sync started
	// after that rename covers it.
	syncMu  sync.Mutex
	renamed atomic.Uint64 // tickets handed out
	synced  uint64        // under syncMu: every ticket up to this is on disk
	syncs   atomic.Uint64 // directory syncs made (tests)
}

// NewDir returns a Dir, creating the directory.
func NewDir(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("photo: %w", err)
	}
	return &Dir{Path: path}, nil
}

// Put implements Store, writing atomically.
func (d *Dir) Put(_ context.Context, key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.Path, ".upload-*")
	if err != nil {
		return fmt.Errorf("photo: %w", err)
	}
	// The temporary file is removed when it was not renamed into place.
	fail := func(err error) error {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("photo: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(d.Path, key)); err != nil {
		return fail(err)
	}
	return d.syncDir(d.renamed.Add(1))
}

// syncDir returns once the directory was synced after the rename of ticket.
func (d *Dir) syncDir(ticket uint64) error {
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	if d.synced >= ticket {
		return nil // a sync that started after our rename covered it
	}
	upTo := d.renamed.Load() // every rename up to here is covered by this sync
	dir, err := os.Open(d.Path)
	if err != nil {
		return fmt.Errorf("photo: %w", err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("photo: sync %s: %w", d.Path, err)
	}
	d.synced = upTo
	d.syncs.Add(1)
	return nil
}

// Get implements Store.
func (d *Dir) Get(_ context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(d.Path, key))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	return b, err
}

// Delete implements Store.
func (d *Dir) Delete(_ context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(d.Path, key))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// S3Config configures S3-compatible storage.
type S3Config struct {
	Endpoint  string // host:port
	Bucket    string
	AccessKey string
	SecretKey string
	Region    string
	Secure    bool // HTTPS
	Prefix    string
}

// S3 stores photos in an S3-compatible bucket (AWS, MinIO, …) with minio-go.
type S3 struct {
	c      *minio.Client
	bucket string
	prefix string
}

// NewS3 connects to the bucket, creating it when missing.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""), Secure: cfg.Secure, Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("photo: s3: %w", err)
	}
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("photo: s3: %w", err)
	}
	if !ok {
		if err := c.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
			return nil, fmt.Errorf("photo: s3: %w", err)
		}
	}
	return &S3{c: c, bucket: cfg.Bucket, prefix: cfg.Prefix}, nil
}

// Put implements Store.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := s.c.PutObject(ctx, s.bucket, s.prefix+key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{ContentType: "image/jpeg"})
	if err != nil {
		return fmt.Errorf("photo: s3 put: %w", err)
	}
	return nil
}

// Get implements Store.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	o, err := s.c.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("photo: s3 get: %w", err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("photo: s3 get: %w", err)
	}
	return b, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{}); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil
		}
		return fmt.Errorf("photo: s3 delete: %w", err)
	}
	return nil
}

// Root returns the directory the photos are in.
func (d *Dir) Root() string { return d.Path }
