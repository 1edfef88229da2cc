package api

import (
	"crypto/ed25519"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/proof"
)

// JWKSPath is where the public keys of proofs of delivery are published.
const JWKSPath = "/.well-known/jwks.json"

func (s *Server) registerProofs(mux *http.ServeMux) {
	s.handle(mux, "GET "+JWKSPath, s.jwks)
	s.handle(mux, "GET /v1/shipments/{shipmentId}/proof", s.as(auth.KindShipper, s.shipmentProofs))
	s.handle(mux, "GET /v1/shipments/{shipmentId}/proof/{trackingId}/pdf", s.as(auth.KindShipper, s.proofPDF))
}

// proofJSON is one parcel's proof of delivery as the shipper gets it: the
// signed record, and the record decoded for reading.
type proofJSON struct {
	TrackingID string        `json:"trackingId"`
	KeyID      string        `json:"keyId"`
	IssuedAt   time.Time     `json:"issuedAt"`
	Proof      string        `json:"proof"`
	Record     *proof.Record `json:"record"`
	PDF        string        `json:"pdf"`
}

type shipmentProofsJSON struct {
	ShipmentID string      `json:"shipmentId"`
	JWKSURI    string      `json:"jwksUri"`
	Proofs     []proofJSON `json:"proofs"`
}

// proofs returns the shipment's proofs of the principal, or answers the
// error and returns false.
func (s *Server) proofs(w http.ResponseWriter, r *http.Request) ([]handoff.DeliveryProof, bool) {
	if s.Proofs == nil {
		WriteError(w, r, s.Log, handoff.Errorf(handoff.EUNAVAILABLE, "Proofs of delivery are not served by this server."))
		return nil, false
	}
	ps, err := s.Proofs.ShipmentProofs(r.Context(), PrincipalFrom(r.Context()).ID, r.PathValue("shipmentId"))
	if err != nil {
		WriteError(w, r, s.Log, err)
		return nil, false
	}
	return ps, true
}

func (s *Server) shipmentProofs(w http.ResponseWriter, r *http.Request) {
	ps, ok := s.proofs(w, r)
	if !ok {
		return
	}
	id := r.PathValue("shipmentId")
	out := shipmentProofsJSON{ShipmentID: id, JWKSURI: JWKSPath, Proofs: []proofJSON{}}
	for _, p := range ps {
		rec, err := proof.Decode(p.Token)
		if err != nil {
			WriteError(w, r, s.Log, handoff.Internal(err, "decode stored proof"))
			return
		}
		out.Proofs = append(out.Proofs, proofJSON{TrackingID: p.TrackingID, KeyID: p.KeyID, IssuedAt: p.IssuedAt.UTC(), Proof: p.Token, Record: rec,
			PDF: "/v1/shipments/" + id + "/proof/" + p.TrackingID + "/pdf"})
	}
	WriteJSON(w, http.StatusOK, out)
}

func (s *Server) proofPDF(w http.ResponseWriter, r *http.Request) {
	ps, ok := s.proofs(w, r)
	if !ok {
		return
	}
	i := slices.IndexFunc(ps, func(p handoff.DeliveryProof) bool { return p.TrackingID == r.PathValue("trackingId") })
	if i < 0 {
		WriteError(w, r, s.Log, handoff.NotFound("Proof of delivery"))
		return
	}
	rec, err := proof.Decode(ps[i].Token)
	if err == nil {
		var doc []byte
		if doc, err = proof.PDF(rec, ps[i].KeyID, ps[i].Token, baseURL(r)+JWKSPath); err == nil {
			w.Header().Set("Content-Type", "application/pdf")
			w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
			w.Header().Set("Content-Disposition", `attachment; filename="proof-of-delivery-`+rec.TrackingID+`.pdf"`)
			w.Header().Set("Cache-Control", "private, no-store")
			w.Write(doc)
			return
		}
	}
	WriteError(w, r, s.Log, handoff.Internal(err, "proof pdf"))
}

// baseURL is the scheme and host the request came to, for links printed on
// paper.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// jwks publishes every key that signs or signed proofs of delivery, for
// anyone: public keys are public.
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	if s.Proofs == nil {
		WriteError(w, r, s.Log, handoff.Errorf(handoff.EUNAVAILABLE, "Proofs of delivery are not served by this server."))
		return
	}
	keys, err := s.Proofs.ProofKeys(r.Context())
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	set := proof.JWKS{Keys: []proof.JWK{}}
	for _, k := range keys {
		set.Keys = append(set.Keys, proof.KeyOf(k.KeyID, ed25519.PublicKey(k.PublicKey)))
	}
	// Verifiers may keep the keys a few minutes: a node publishes its keys
	// in the database when it starts, before it signs anything.
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	json.MarshalWrite(w, set, json.Deterministic(true))
}
