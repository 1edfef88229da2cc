package handoff

import "testing"

func TestPhotoRule(t *testing.T) {
	const porch, hand = "DeliveredToPorch", "DeliveredToCustomer"
	for _, c := range []struct {
		name    string
		place   string
		privacy []string
		given   bool
		take    bool
		code    string // "" when allowed
		field   string
	}{
		{"unattended with a photo", porch, []string{"", ""}, true, true, "", ""},
		{"unattended without a photo", porch, []string{""}, false, false, EINVALID, "photo"},
		{"mail room with a photo", "DeliveredToMailRoom", []string{""}, true, true, "", ""},
		{"door step without a photo", "DeliveredToDoorStep", []string{""}, false, false, EINVALID, "photo"},
		{"handed over without a photo", hand, []string{""}, false, false, "", ""},
		{"handed over with a photo", hand, []string{""}, true, false, EINVALID, "photo"},
		{"neighbour with a photo", "DeliveredToNeighbor", []string{""}, true, false, EINVALID, "photo"},
		{"confidential, unattended, none given", porch, []string{NoPhotoConfidential}, false, false, "", ""},
		{"opted out, unattended, one given", porch, []string{NoPhotoOptedOut}, true, false, EFORBIDDEN, ""},
		{"gift registry, unattended, none given", porch, []string{NoPhotoGiftRegistry}, false, false, "", ""},
		{"mixed privacy, none given", porch, []string{"", NoPhotoOptedOut}, false, false, ECONFLICT, ""},
		{"mixed privacy, one given", porch, []string{"", NoPhotoOptedOut}, true, false, EFORBIDDEN, ""},
		{"private, handed over", hand, []string{NoPhotoConfidential}, false, false, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			take, err := PhotoRule(c.place, c.privacy, c.given)
			if ErrorCode(err) != c.code {
				t.Fatalf("error %v, want code %q", err, c.code)
			}
			if c.code == EFORBIDDEN && ErrorReason(err) != ReasonPhotoForbidden || c.code == ECONFLICT && ErrorReason(err) != ReasonPhotoMixed {
				t.Errorf("reason %q", ErrorReason(err))
			}
			if take != c.take {
				t.Errorf("take = %v, want %v", take, c.take)
			}
			if c.field != "" && (len(ErrorFields(err)) != 1 || ErrorFields(err)[0].Field != c.field) {
				t.Errorf("fields %v, want %s", ErrorFields(err), c.field)
			}
		})
	}
}

func TestNoPhotoWords(t *testing.T) {
	for _, r := range []string{NoPhotoConfidential, NoPhotoGiftRegistry, NoPhotoOptedOut} {
		if NoPhotoWords(r) == "" {
			t.Errorf("%s has no words", r)
		}
	}
	if NoPhotoWords("") != "" {
		t.Error("no reason has words")
	}
}
