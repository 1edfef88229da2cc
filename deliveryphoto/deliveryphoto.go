// Package deliveryphoto is the use-case service of proof-of-delivery photos
// once they are taken (SPEC §3): who may see a parcel's photo, the log of
// every staff view, thumbnails made when first asked for, and deleting
// photos at the end of their retention. It reads, writes and deletes the
// images in the blob store (package photo) and keeps
// the records through a store it declares here (Store; package sqlstore
// implements it). Taking a photo is the door's (package door).
package deliveryphoto

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
)

// Record is a stored photo of a parcel.
type Record struct {
	ID          string
	Blob, Thumb string // keys in the blob store
	Deleted     bool   // its retention ended and its blobs were deleted
}

// Store is what the service needs of storage.
type Store interface {
	// LatestPhoto returns a parcel's newest photo (its drawn signature when
	// signature), or ENOTFOUND.
	LatestPhoto(ctx context.Context, trackingID string, signature bool) (*Record, error)
	// ShipperParcel reports whether the parcel is the shipper's.
	ShipperParcel(ctx context.Context, shipperID, trackingID string) (bool, error)
	// RecipientParcel reports whether the parcel's label names contact as
	// its recipient (a gift buyer does not see the photo of the gift).
	RecipientParcel(ctx context.Context, contact, trackingID string) (bool, error)
	// LogPhotoView records (and audits) that viewer saw a parcel's photo
	// at a time.
	LogPhotoView(ctx context.Context, photoID, trackingID string, viewer *handoff.Principal, at time.Time) error
	// PhotoInfo describes a parcel's photo (see handoff.PhotoService).
	PhotoInfo(ctx context.Context, trackingID string) (*handoff.PhotoInfo, error)
	// AgentParcel returns customer service's view of a parcel.
	AgentParcel(ctx context.Context, agent *handoff.Principal, trackingID string) (*handoff.AgentParcel, error)
	// DoorCheck describes a parcel's checks at the door (see
	// handoff.PhotoService).
	DoorCheck(ctx context.Context, trackingID string) (*handoff.DoorCheckInfo, error)
	// LeaseExpiredPhotos leases up to limit photos past their retention
	// until a time, so that two nodes never purge the same one.
	LeaseExpiredPhotos(ctx context.Context, limit int, now, until time.Time) ([]Record, error)
	// MarkPhotoDeleted records that a photo's blobs are gone.
	MarkPhotoDeleted(ctx context.Context, photoID string, at time.Time) error
}

// Blobs reads, writes and deletes image bytes (the photo store); a missing
// one is an error that is fs.ErrNotExist.
type Blobs interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, data []byte) error
	Delete(ctx context.Context, key string) error
}

// Thumbnailer makes the thumbnail of a stored photo (the images adapter,
// package photo). A refusal may say Busy(): no decoder came free in time.
type Thumbnailer interface {
	Thumbnail(ctx context.Context, photo []byte) ([]byte, error)
}

// Service implements handoff.PhotoService.
type Service struct {
	Store  Store
	Blobs  Blobs // nil when photo storage is not configured
	Thumbs Thumbnailer
	Now    func() time.Time
	Log    *slog.Logger
}

// New returns the photo service over store and the blob store, making
// thumbnails with thumbs.
func New(store Store, blobs Blobs, thumbs Thumbnailer, now func() time.Time, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{Store: store, Blobs: blobs, Thumbs: thumbs, Now: now, Log: log}
}

var _ handoff.PhotoService = (*Service)(nil)

// ParcelPhoto implements handoff.PhotoService: the parcel's shipper and
// customer service may see it; anyone else gets ENOTFOUND. The view is
// logged before the bytes leave: if it cannot be logged, they do not leave,
// and only views that showed something are logged.
func (s *Service) ParcelPhoto(ctx context.Context, viewer *handoff.Principal, trackingID string, thumb bool) ([]byte, error) {
	return s.staffView(ctx, viewer, trackingID, false, thumb)
}

// ParcelSignature implements handoff.PhotoService: a drawn signature is
// shown, and its views logged, by the photo's rules.
func (s *Service) ParcelSignature(ctx context.Context, viewer *handoff.Principal, trackingID string) ([]byte, error) {
	return s.staffView(ctx, viewer, trackingID, true, false)
}

// RecipientSignature implements handoff.PhotoService.
func (s *Service) RecipientSignature(ctx context.Context, contact, trackingID string) ([]byte, error) {
	return s.recipientView(ctx, contact, trackingID, true, false)
}

// DoorCheck implements handoff.PhotoService.
func (s *Service) DoorCheck(ctx context.Context, trackingID string) (*handoff.DoorCheckInfo, error) {
	return s.Store.DoorCheck(ctx, trackingID)
}

// staffView returns a parcel's photo or signature to its shipper or
// customer service and logs the view.
func (s *Service) staffView(ctx context.Context, viewer *handoff.Principal, trackingID string, signature, thumb bool) ([]byte, error) {
	if viewer == nil {
		return nil, handoff.NotFound("Photo")
	}
	switch viewer.Kind {
	case auth.KindShipper:
		ok, err := s.Store.ShipperParcel(ctx, viewer.ID, trackingID)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, handoff.NotFound("Photo")
		}
	case auth.KindAgent:
	default:
		return nil, handoff.NotFound("Photo")
	}
	p, err := s.Store.LatestPhoto(ctx, trackingID, signature)
	if err != nil {
		return nil, err
	}
	b, err := s.bytes(ctx, p, thumb)
	if err != nil {
		return nil, err
	}
	if err := s.Store.LogPhotoView(ctx, p.ID, trackingID, viewer, s.Now()); err != nil {
		return nil, err
	}
	return b, nil
}

// RecipientPhoto implements handoff.PhotoService. The recipient's own views
// are not staff views and are not logged.
func (s *Service) RecipientPhoto(ctx context.Context, contact, trackingID string, thumb bool) ([]byte, error) {
	return s.recipientView(ctx, contact, trackingID, false, thumb)
}

// recipientView returns the photo or signature of one of the contact's
// parcels.
func (s *Service) recipientView(ctx context.Context, contact, trackingID string, signature, thumb bool) ([]byte, error) {
	ok, err := s.Store.RecipientParcel(ctx, contact, trackingID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, handoff.NotFound("Photo")
	}
	p, err := s.Store.LatestPhoto(ctx, trackingID, signature)
	if err != nil {
		return nil, err
	}
	return s.bytes(ctx, p, thumb)
}

// bytes reads a photo (or its thumbnail) from the blob store: EGONE once its
// retention ended or its blob is missing.
func (s *Service) bytes(ctx context.Context, p *Record, thumb bool) ([]byte, error) {
	if p.Deleted {
		return nil, handoff.Errorf(handoff.EGONE, "The photo was deleted at the end of its retention period.")
	}
	if s.Blobs == nil {
		return nil, handoff.Errorf(handoff.EUNAVAILABLE, "Photo storage is not configured.")
	}
	if thumb {
		return s.thumbnail(ctx, p)
	}
	return s.blob(ctx, p.Blob)
}

// blob reads a photo's bytes: EGONE when they are missing.
func (s *Service) blob(ctx context.Context, key string) ([]byte, error) {
	b, err := s.Blobs.Get(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, handoff.Errorf(handoff.EGONE, "The photo is no longer stored.")
	}
	if err != nil {
		return nil, handoff.Internal(err, "read photo")
	}
	return b, nil
}

// thumbnail reads a photo's thumbnail, or makes it from the photo and keeps
// it under its key when it is the first asked for (a photo is stored
// without one: most are never looked at). The photo's retention may end
// while its thumbnail is made: the thumbnail is written before the photo
// is looked for again, and the purge deletes the photo before the
// thumbnail, so either the purge deletes this thumbnail or it is deleted
// here; none outlives its photo.
func (s *Service) thumbnail(ctx context.Context, p *Record) ([]byte, error) {
	b, err := s.Blobs.Get(ctx, p.Thumb)
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, handoff.Internal(err, "read thumbnail")
	}
	full, err := s.blob(ctx, p.Blob)
	if err != nil {
		return nil, err
	}
	if s.Thumbs == nil {
		return nil, handoff.Errorf(handoff.EUNAVAILABLE, "Thumbnails are not configured.")
	}
	thumb, err := s.Thumbs.Thumbnail(ctx, full)
	var busy interface{ Busy() bool }
	switch {
	case errors.As(err, &busy) && busy.Busy():
		return nil, &handoff.Error{Code: handoff.EUNAVAILABLE, Message: "The server is busy with other photos; try again shortly.", Err: err}
	case err != nil:
		return nil, handoff.Internal(err, "make thumbnail")
	}
	if err := s.Blobs.Put(ctx, p.Thumb, thumb); err != nil {
		// Served all the same, and made again next time.
		s.Log.Warn("keep thumbnail", "photo", p.ID, "err", err)
		return thumb, nil
	}
	if _, err := s.Blobs.Get(ctx, p.Blob); errors.Is(err, fs.ErrNotExist) {
		if err := s.Blobs.Delete(ctx, p.Thumb); err != nil {
			s.Log.Warn("delete thumbnail of a purged photo", "photo", p.ID, "err", err)
		}
		return nil, handoff.Errorf(handoff.EGONE, "The photo is no longer stored.")
	}
	return thumb, nil
}

// PhotoInfo implements handoff.PhotoService.
func (s *Service) PhotoInfo(ctx context.Context, trackingID string) (*handoff.PhotoInfo, error) {
	return s.Store.PhotoInfo(ctx, trackingID)
}

// AgentParcel implements handoff.PhotoService.
func (s *Service) AgentParcel(ctx context.Context, agent *handoff.Principal, trackingID string) (*handoff.AgentParcel, error) {
	return s.Store.AgentParcel(ctx, agent, trackingID)
}

// purgeLease is how long a node holds the photos it is deleting.
const purgeLease = 5 * time.Minute

// PurgeExpiredPhotos implements handoff.PhotoService. Photos are leased
// first, their blobs deleted, and only then marked deleted: a node that dies
// midway leaves them to be taken again when the lease ends, and deleting a
// blob twice is harmless.
func (s *Service) PurgeExpiredPhotos(ctx context.Context, limit int) (int, error) {
	if s.Blobs == nil {
		return 0, nil
	}
	now := s.Now()
	batch, err := s.Store.LeaseExpiredPhotos(ctx, limit, now, now.Add(purgeLease))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range batch {
		// The photo first, then its thumbnail (see thumbnail).
		if err := errors.Join(s.Blobs.Delete(ctx, p.Blob), s.Blobs.Delete(ctx, p.Thumb)); err != nil {
			s.Log.Error("photo purge: delete failed; will retry after the lease", "photo_id", p.ID, "err", err)
			continue
		}
		if err := s.Store.MarkPhotoDeleted(ctx, p.ID, s.Now()); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
