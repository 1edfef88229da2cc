package main

import (
	"context"
	"flag"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/photo"
)

// photoConfig says where photos are kept and for how long.
type photoConfig struct {
	Dir           string
	RetentionDays int
	MaxBytes      int64
	MaxPixels     int
	S3            photo.S3Config
}

func (c *photoConfig) flags(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&c.Dir, "photo-dir", getenv("HANDOFF_PHOTO_DIR"), "directory for delivery photos (env HANDOFF_PHOTO_DIR); default <data-dir>/photos; ignored with S3")
	days, _ := strconv.Atoi(envOr(getenv, "HANDOFF_PHOTO_RETENTION_DAYS", "90"))
	fs.IntVar(&c.RetentionDays, "photo-retention-days", days, "days a delivery photo is kept (env HANDOFF_PHOTO_RETENTION_DAYS)")
	maxBytes, _ := strconv.ParseInt(envOr(getenv, "HANDOFF_PHOTO_MAX_BYTES", strconv.FormatInt(photo.DefaultLimits.MaxBytes, 10)), 10, 64)
	fs.Int64Var(&c.MaxBytes, "photo-max-bytes", maxBytes, "largest photo upload in bytes (env HANDOFF_PHOTO_MAX_BYTES)")
	maxPixels, _ := strconv.Atoi(envOr(getenv, "HANDOFF_PHOTO_MAX_PIXELS", strconv.Itoa(photo.DefaultLimits.MaxPixels)))
	fs.IntVar(&c.MaxPixels, "photo-max-pixels", maxPixels, "largest photo in pixels, width × height, at 8 bits per channel; half as many at 16 (env HANDOFF_PHOTO_MAX_PIXELS)")
	fs.StringVar(&c.S3.Endpoint, "s3-endpoint", getenv("HANDOFF_S3_ENDPOINT"), "S3-compatible endpoint host:port for photos (env HANDOFF_S3_ENDPOINT); empty: the local directory")
	fs.StringVar(&c.S3.Bucket, "s3-bucket", envOr(getenv, "HANDOFF_S3_BUCKET", "handoff-photos"), "S3 bucket (env HANDOFF_S3_BUCKET)")
	fs.StringVar(&c.S3.Region, "s3-region", envOr(getenv, "HANDOFF_S3_REGION", "us-east-1"), "S3 region (env HANDOFF_S3_REGION)")
	fs.BoolVar(&c.S3.Secure, "s3-secure", getenv("HANDOFF_S3_INSECURE") == "", "use HTTPS to S3 (set HANDOFF_S3_INSECURE=1 for a local test server)")
	c.S3.AccessKey, c.S3.SecretKey = getenv("HANDOFF_S3_ACCESS_KEY"), getenv("HANDOFF_S3_SECRET_KEY")
}

func (c *photoConfig) store(ctx context.Context, dataDir string) (photo.Store, error) {
	if c.S3.Endpoint != "" {
		return photo.NewS3(ctx, c.S3)
	}
	dir := c.Dir
	if dir == "" {
		dir = filepath.Join(dataDir, "photos")
	}
	return photo.NewDir(dir)
}

// purgePhotos deletes expired photos now and then every interval until ctx
// ends. Several nodes may run it: the store leases what each deletes.
func purgePhotos(ctx context.Context, photos handoff.PhotoService, log *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		total := 0
		for {
			n, err := photos.PurgeExpiredPhotos(ctx, 200)
			total += n
			if err != nil {
				if ctx.Err() == nil {
					log.Error("photo retention", "err", err)
				}
				break
			}
			if n < 200 {
				break
			}
		}
		if total > 0 {
			log.Info("photos past retention deleted", "count", total)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
