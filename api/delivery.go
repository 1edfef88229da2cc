package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/anomaly"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/limit"
)

func (s *Server) registerDelivery(mux *http.ServeMux) {
	st := func(h http.HandlerFunc) http.HandlerFunc { return s.as(auth.KindStation, h) }
	da := func(h http.HandlerFunc) http.HandlerFunc { return s.as(auth.KindAssociate, h) }

	s.handle(mux, "POST /v1/station/parcels/{trackingId}/receive", st(s.receiveParcel))
	s.handle(mux, "POST /v1/station/routes", st(s.createRoute))
	s.handle(mux, "GET /v1/station/routes", st(s.listRoutes))
	s.handle(mux, "GET /v1/station/routes/{routeId}", st(s.getRoute))
	s.handle(mux, "PATCH /v1/station/routes/{routeId}/stops/{stopId}", st(s.moveStop))
	s.handle(mux, "GET /v1/station/associates", st(s.listAssociates))
	s.handle(mux, "POST /v1/station/associates/{associateId}/unlock", st(s.unlockAssociate))
	s.handle(mux, "GET /v1/station/anomalies", st(s.anomalies))
	s.handle(mux, "GET /v1/station/board", st(s.board))
	s.handle(mux, "GET /v1/station/waiting", st(s.waiting))
	s.handle(mux, "POST /v1/station/routes/{routeId}/stops/{stopId}/reorder", st(s.reorderStop))

	s.handle(mux, "GET /v1/associate/itinerary", da(s.itinerary))
	s.handle(mux, "POST /v1/associate/routes/{routeId}/load", da(s.loadRoute))
	s.handle(mux, "GET /v1/associate/stops/{stopId}", da(s.getStop))
	s.handle(mux, "POST /v1/associate/stops/{stopId}/verify", da(s.verifyCode))
	s.handle(mux, "POST /v1/associate/stops/{stopId}/phone-digits", da(s.verifyDigits))
	s.handle(mux, "POST /v1/associate/stops/{stopId}/resend", da(s.resendCode))
	s.handle(mux, "POST /v1/associate/stops/{stopId}/deliver", da(s.deliverParcels))
	s.handle(mux, "POST /v1/associate/stops/{stopId}/attempt", da(s.recordAttempt))
}

// reply writes v, or the problem for err.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	WriteJSON(w, status, v)
}

func (s *Server) receiveParcel(w http.ResponseWriter, r *http.Request) {
	out, err := s.Stations.ReceiveParcel(r.Context(), PrincipalFrom(r.Context()), r.PathValue("trackingId"))
	s.reply(w, r, http.StatusOK, out, err)
}

func (s *Server) createRoute(w http.ResponseWriter, r *http.Request) {
	var nr handoff.NewRoute
	if err := Decode(w, r, &nr); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	out, err := s.Stations.CreateRoute(r.Context(), PrincipalFrom(r.Context()), nr)
	if err == nil {
		w.Header().Set("Location", "/v1/station/routes/"+out.ID)
	}
	s.reply(w, r, http.StatusCreated, out, err)
}

func (s *Server) listRoutes(w http.ResponseWriter, r *http.Request) {
	date := r.URL.Query().Get("date")
	if date == "" {
		date = s.Today(PrincipalFrom(r.Context()).Market)
	}
	routes, err := s.Stations.ListRoutes(r.Context(), PrincipalFrom(r.Context()), date)
	s.reply(w, r, http.StatusOK, map[string]any{"serviceDate": date, "routes": routes}, err)
}

func (s *Server) getRoute(w http.ResponseWriter, r *http.Request) {
	out, err := s.Stations.FindRoute(r.Context(), PrincipalFrom(r.Context()), r.PathValue("routeId"))
	s.reply(w, r, http.StatusOK, out, err)
}

func (s *Server) moveStop(w http.ResponseWriter, r *http.Request) {
	var req struct {
		PlannedTime string `json:"plannedTime"`
	}
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	out, err := s.Stations.MoveStop(r.Context(), PrincipalFrom(r.Context()), r.PathValue("routeId"), r.PathValue("stopId"), req.PlannedTime)
	s.reply(w, r, http.StatusOK, out, err)
}

func (s *Server) listAssociates(w http.ResponseWriter, r *http.Request) {
	out, err := s.Stations.Associates(r.Context(), PrincipalFrom(r.Context()))
	s.reply(w, r, http.StatusOK, map[string]any{"associates": out}, err)
}

// anomalyJSON is a station's day of figures as the API shows it.
type anomalyJSON struct {
	StationID   string             `json:"stationId"`
	ServiceDate string             `json:"serviceDate"`
	Note        string             `json:"note"`
	Medians     map[string]float64 `json:"medians"`
	Flags       []anomaly.Flag     `json:"flags"`
	Associates  []anomaly.Figures  `json:"associates"`
}

func (s *Server) anomalies(w http.ResponseWriter, r *http.Request) {
	rep, err := s.Stations.Anomalies(r.Context(), PrincipalFrom(r.Context()), r.URL.Query().Get("date"))
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	WriteJSON(w, http.StatusOK, anomalyJSON{StationID: rep.StationID, ServiceDate: rep.ServiceDate, Medians: rep.Medians, Flags: rep.Flags, Associates: rep.Associates,
		Note: "Figures that stand out from this station's median, for a person to review with the associate: evidence, never an automatic sanction."})
}

func (s *Server) unlockAssociate(w http.ResponseWriter, r *http.Request) {
	err := s.Stations.UnlockAssociate(r.Context(), PrincipalFrom(r.Context()), r.PathValue("associateId"))
	s.reply(w, r, http.StatusOK, map[string]any{"associateId": r.PathValue("associateId"), "locked": false}, err)
}

func (s *Server) itinerary(w http.ResponseWriter, r *http.Request) {
	out, err := s.Doors.Itinerary(r.Context(), PrincipalFrom(r.Context()))
	s.reply(w, r, http.StatusOK, map[string]any{"routes": out}, err)
}

func (s *Server) loadRoute(w http.ResponseWriter, r *http.Request) {
	out, err := s.Doors.LoadRoute(r.Context(), PrincipalFrom(r.Context()), r.PathValue("routeId"))
	s.reply(w, r, http.StatusOK, out, err)
}

func (s *Server) getStop(w http.ResponseWriter, r *http.Request) {
	out, err := s.Doors.FindStop(r.Context(), PrincipalFrom(r.Context()), r.PathValue("stopId"))
	s.reply(w, r, http.StatusOK, out, err)
}

// verified answers a code check: 200 when it delivered, otherwise a 422
// problem saying how many attempts are left. Neither carries the code.
func (s *Server) verified(w http.ResponseWriter, r *http.Request, res *handoff.VerifyResult, err error) {
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	if res.Correct {
		WriteJSON(w, http.StatusOK, res)
		return
	}
	msg := "The code is wrong."
	if res.AttemptEnded {
		msg = "The code is wrong. That was the third wrong entry: the attempt has ended and the parcels go back to the station."
	}
	p := Problem{Type: ProblemTypeBase + "wrong_code", Title: "Wrong code", Status: http.StatusUnprocessableEntity, Code: "wrong_code",
		Detail: msg, Instance: r.URL.Path}
	ext := struct {
		Problem
		AttemptsLeft int           `json:"attemptsLeft"`
		AttemptEnded bool          `json:"attemptEnded"`
		Stop         *handoff.Stop `json:"stop"`
	}{p, res.AttemptsLeft, res.AttemptEnded, res.Stop}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnprocessableEntity)
	jsonv2.MarshalWrite(w, ext, jsonv2.Deterministic(true))
}

func (s *Server) verifyCode(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Code string `json:"code"`
	}
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	res, err := s.Doors.VerifyCode(r.Context(), PrincipalFrom(r.Context()), r.PathValue("stopId"), req.Code)
	s.verified(w, r, res, err)
}

func (s *Server) verifyDigits(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Digits string `json:"digits"`
	}
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	res, err := s.Doors.VerifyPhoneDigits(r.Context(), PrincipalFrom(r.Context()), r.PathValue("stopId"), req.Digits)
	s.verified(w, r, res, err)
}

// resendCode takes an empty body or {}: there is deliberately no field for a
// phone number or address, and any field is refused.
func (s *Server) resendCode(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if err := Decode(w, r, &req); err != nil && !emptyBody(err) {
		WriteError(w, r, s.Log, err)
		return
	}
	out, err := s.Doors.ResendCode(r.Context(), PrincipalFrom(r.Context()), r.PathValue("stopId"))
	s.reply(w, r, http.StatusAccepted, out, err)
}

// deliverParcels takes JSON ({"place", "trackingIds", "signature",
// "idCheck"}) or, with the photo of an unattended delivery,
// multipart/form-data with fields place, trackingIds (repeated) and the file
// photo. The date of birth of an ID check is passed on to be compared and
// goes no further.
func (s *Server) deliverParcels(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Place       string             `json:"place"`
		TrackingIDs []string           `json:"trackingIds,omitempty"`
		Signature   *handoff.Signature `json:"signature,omitempty"`
		IDCheck     *handoff.IDCheck   `json:"idCheck,omitempty"`
	}
	var photo []byte
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		var err error
		req.Place, req.TrackingIDs, photo, err = s.readPhotoForm(w, r)
		if err != nil {
			WriteError(w, r, s.Log, err)
			return
		}
	} else if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	out, err := s.Doors.DeliverParcels(r.Context(), PrincipalFrom(r.Context()), r.PathValue("stopId"),
		handoff.Handover{Place: req.Place, TrackingIDs: req.TrackingIDs, Photo: photo, Signature: req.Signature, IDCheck: req.IDCheck})
	s.reply(w, r, http.StatusOK, out, err)
}

// MaxPhotoUpload bounds a multipart delivery request; the photo's own limit
// (configurable, smaller) is checked when it is cleaned.
const MaxPhotoUpload = 32 << 20

// readPhotoForm reads a multipart delivery: nothing of it is kept but the
// photo's bytes, and only until they are cleaned.
func (s *Server) readPhotoForm(w http.ResponseWriter, r *http.Request) (place string, ids []string, photo []byte, err error) {
	s.Pace.Allow(w, r, MaxPhotoUpload)
	r.Body = http.MaxBytesReader(w, r.Body, MaxPhotoUpload)
	mr, err := r.MultipartReader()
	if err != nil {
		return "", nil, nil, handoff.Invalid(handoff.FieldError{Field: "body", Message: "is not a well-formed multipart form"})
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", nil, nil, s.uploadError(err, handoff.Invalid(handoff.FieldError{Field: "body", Message: "is not a well-formed multipart form"}))
		}
		b, err := io.ReadAll(part)
		part.Close()
		if err != nil {
			return "", nil, nil, s.uploadError(err, handoff.Invalid(handoff.FieldError{Field: part.FormName(), Message: "could not be read"}))
		}
		switch part.FormName() {
		case "photo":
			photo = b
		case "place":
			place = strings.TrimSpace(string(b))
		case "trackingIds", "trackingId":
			for _, id := range strings.Split(string(b), ",") {
				if id = strings.TrimSpace(id); id != "" {
					ids = append(ids, id)
				}
			}
		default:
			return "", nil, nil, handoff.Invalid(handoff.FieldError{Field: part.FormName(), Message: "is not a known field"})
		}
	}
	return place, ids, photo, nil
}

// uploadError says why an upload could not be read: too large, cut off
// before it all arrived (408, not the client's fault in the photo), or else
// the given error.
func (s *Server) uploadError(err error, otherwise error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return handoff.Errorf(handoff.ETOOLARGE, "The upload is larger than %d MiB.", MaxPhotoUpload>>20)
	case limit.CutOff(err):
		return handoff.Errorf(handoff.ETIMEOUT, "The upload was cut off: it did not all arrive in time. Nothing was changed; send it again on a better connection.")
	}
	return otherwise
}

func (s *Server) recordAttempt(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	out, err := s.Doors.RecordAttempt(r.Context(), PrincipalFrom(r.Context()), r.PathValue("stopId"), req.Reason)
	s.reply(w, r, http.StatusOK, out, err)
}

// emptyBody reports whether Decode failed only because there was no body,
// which endpoints without parameters accept.
func emptyBody(err error) bool {
	fields := handoff.ErrorFields(err)
	return len(fields) == 1 && fields[0].Field == "body" && fields[0].Message == msgBodyRequired
}
