package handoff

import "strings"

// CheckBodyEncoding returns EUNSUPPORTED unless a request body's content
// codings (its Content-Encoding header values) are none or identity. Bodies
// are read as they come, so a gzip one would otherwise be misread as JSON or
// a form rather than refused.
func CheckBodyEncoding(codings []string) error {
	for _, v := range codings {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return Errorf(EUNSUPPORTED, "Content-Encoding %q is not supported: send the body uncompressed.", clip(c))
			}
		}
	}
	return nil
}
