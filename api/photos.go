package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
)

func (s *Server) registerPhotos(mux *http.ServeMux) {
	s.handle(mux, "GET /v1/tracking/{trackingId}/photo", s.as(auth.KindShipper, s.photo))
	s.handle(mux, "GET /v1/parcels/{trackingId}", s.as(auth.KindAgent, s.agentParcel))
	s.handle(mux, "GET /v1/parcels/{trackingId}/photo", s.as(auth.KindAgent, s.photo))
	s.handle(mux, "GET /v1/tracking/{trackingId}/signature", s.as(auth.KindShipper, s.signature))
	s.handle(mux, "GET /v1/parcels/{trackingId}/signature", s.as(auth.KindAgent, s.signature))
}

// proofOfDelivery is the photo reference in a tracking summary: where to get
// it, when it was taken, or why there is none.
type proofOfDelivery struct {
	Photo         string     `json:"photo,omitempty"`
	Thumbnail     string     `json:"thumbnail,omitempty"`
	TakenAt       *time.Time `json:"takenAt,omitempty"`
	RemovedAt     *time.Time `json:"removedAt,omitempty"`
	SkippedReason string     `json:"skippedReason,omitempty"`
}

func podOut(info *handoff.PhotoInfo, base string) *proofOfDelivery {
	if info == nil {
		return nil
	}
	p := &proofOfDelivery{TakenAt: info.TakenAt, RemovedAt: info.RemovedAt, SkippedReason: info.SkippedReason}
	if info.TakenAt != nil && info.RemovedAt == nil {
		p.Photo, p.Thumbnail = base, base+"?size=thumb"
	}
	return p
}

// photo answers the photo bytes to a shipper (own parcels) or an agent; the
// store logs the view first.
func (s *Server) photo(w http.ResponseWriter, r *http.Request) {
	if s.Photos == nil {
		WriteError(w, r, s.Log, handoff.Errorf(handoff.EUNAVAILABLE, "Photos are not served by this server."))
		return
	}
	size := r.URL.Query().Get("size")
	if size != "" && size != "thumb" && size != "full" {
		WriteError(w, r, s.Log, handoff.Invalid(handoff.FieldError{Field: "size", Message: "must be thumb or full"}))
		return
	}
	b, err := s.Photos.ParcelPhoto(r.Context(), PrincipalFrom(r.Context()), r.PathValue("trackingId"), size == "thumb")
	s.writeJPEG(w, r, b, err)
}

// signature answers the drawn signature of a parcel to its shipper or an
// agent, logged like a photo view.
func (s *Server) signature(w http.ResponseWriter, r *http.Request) {
	if s.Photos == nil {
		WriteError(w, r, s.Log, handoff.Errorf(handoff.EUNAVAILABLE, "Photos are not served by this server."))
		return
	}
	b, err := s.Photos.ParcelSignature(r.Context(), PrincipalFrom(r.Context()), r.PathValue("trackingId"))
	s.writeJPEG(w, r, b, err)
}

// writeJPEG answers a stored image, never cached by anyone on the way.
func (s *Server) writeJPEG(w http.ResponseWriter, r *http.Request, b []byte, err error) {
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(b)
}

type agentParcelJSON struct {
	*handoff.AgentParcel
	EventHistory    []eventJSON      `json:"eventHistory"`
	ProofOfDelivery *proofOfDelivery `json:"proofOfDelivery,omitempty"`
}

func (s *Server) agentParcel(w http.ResponseWriter, r *http.Request) {
	a, err := s.Photos.AgentParcel(r.Context(), PrincipalFrom(r.Context()), r.PathValue("trackingId"))
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	out := agentParcelJSON{AgentParcel: a, EventHistory: []eventJSON{}, ProofOfDelivery: podOut(a.Photo, "/v1/parcels/"+a.TrackingID+"/photo")}
	for _, e := range a.Events {
		out.EventHistory = append(out.EventHistory, eventJSON{EventCode: e.Code, EventTime: e.Time.Format(time.RFC3339), Location: e.Location,
			DetailCode: e.Detail, Note: e.Note, Actor: e.Actor})
	}
	WriteJSON(w, http.StatusOK, out)
}
