package sqlstore

import (
	"context"

	"github.com/handoff-dev/handoff"
)

// PreviewSettings implements handoff.SettingsService: the settings as they
// would be saved, and the label as it would be created, decided by the same
// code as a label (decide), in no transaction and writing nothing.
func (d *DB) PreviewSettings(ctx context.Context, shipperID string, p *handoff.SettingsPatch, in *handoff.ShipmentInput) (*handoff.Shipment, error) {
	set, err := d.Settings(ctx, shipperID)
	if err != nil {
		return nil, err
	}
	var fe handoff.FieldErrors
	next := set
	if p != nil {
		var err error
		next, err = p.Apply(set)
		prefixFields(&fe, "settings.", err)
		if err != nil && len(handoff.ErrorFields(err)) == 0 {
			return nil, err
		}
	}
	if in == nil {
		fe.Add("shipment", "is required: the sample label to decide")
		return nil, fe.Err()
	}
	s, err := in.Validate()
	prefixFields(&fe, "shipment.", err)
	if err != nil && len(handoff.ErrorFields(err)) == 0 {
		return nil, err
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	s.ShipperID = shipperID
	if err := d.decide(ctx, d.db, s, next); err != nil {
		return nil, err
	}
	return s, nil
}

// prefixFields adds err's field errors to fe, each under prefix.
func prefixFields(fe *handoff.FieldErrors, prefix string, err error) {
	for _, f := range handoff.ErrorFields(err) {
		*fe = append(*fe, handoff.FieldError{Field: prefix + f.Field, Message: f.Message})
	}
}
