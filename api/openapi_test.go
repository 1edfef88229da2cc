package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/handoff-dev/handoff/api"
)

// oaMethods are the operation keys of an OpenAPI path item.
var oaMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// oaUnregistered are documented paths that api.Server does not register: the
// probes observe.Health serves on the same mux.
var oaUnregistered = []string{"/healthz", "/readyz"}

// oaDoc parses the embedded OpenAPI document.
func oaDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatalf("api/openapi.json is not valid JSON: %v", err)
	}
	return doc
}

// oaMux registers the API on a fresh mux. Register does not call the
// services, so they stay nil.
func oaMux() (*api.Server, *http.ServeMux) {
	s := &api.Server{AdminToken: "openapi-test-token"}
	mux := http.NewServeMux()
	s.Register(mux)
	return s, mux
}

// oaTemplate turns the path of a ServeMux pattern into an OpenAPI path
// template: "{name...}" becomes "{name}" and a trailing "{$}" is dropped.
func oaTemplate(p string) string {
	p = strings.TrimSuffix(p, "{$}")
	return strings.ReplaceAll(p, "...}", "}")
}

// oaResolve follows a local JSON pointer ("#/components/schemas/Problem")
// through doc; ok is false when it does not lead to a value.
func oaResolve(doc map[string]any, ref string) (any, bool) {
	ptr, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, false
	}
	if ptr == "" {
		return doc, true
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, false
	}
	var cur any = doc
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// oaDeref returns v, or what its $ref points to.
func oaDeref(doc map[string]any, v any) map[string]any {
	m, _ := v.(map[string]any)
	if ref, ok := m["$ref"].(string); ok {
		target, _ := oaResolve(doc, ref)
		m, _ = target.(map[string]any)
	}
	return m
}

var oaPathParam = regexp.MustCompile(`\{([^{}]+)\}`)

func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := oaDoc(t)
	if v := doc["openapi"]; v != "3.1.0" {
		t.Errorf(`"openapi" is %v, want "3.1.0"`, v)
	}
	paths, _ := doc["paths"].(map[string]any)
	if len(paths) == 0 {
		t.Fatal(`the document has no "paths"`)
	}

	documented := map[string]bool{}
	opIDs := map[string]string{}
	for path, v := range paths {
		item, ok := v.(map[string]any)
		if !ok {
			t.Errorf("paths[%q] is not an object", path)
			continue
		}
		// Parameters may sit on the path item or the operation.
		pathLevel, _ := item["parameters"].([]any)
		for _, m := range oaMethods {
			opv, ok := item[m]
			if !ok {
				continue
			}
			key := strings.ToUpper(m) + " " + path
			documented[key] = true
			op, ok := opv.(map[string]any)
			if !ok {
				t.Errorf("%s: the operation is not an object", key)
				continue
			}
			id, _ := op["operationId"].(string)
			switch {
			case id == "":
				t.Errorf("%s: no operationId", key)
			case opIDs[id] != "":
				t.Errorf("%s: operationId %q is also used by %s", key, id, opIDs[id])
			default:
				opIDs[id] = key
			}
			if resp, _ := op["responses"].(map[string]any); len(resp) == 0 {
				t.Errorf("%s: no responses", key)
			}
			declared := map[string]bool{}
			opLevel, _ := op["parameters"].([]any)
			for _, pv := range slices.Concat(pathLevel, opLevel) {
				if p := oaDeref(doc, pv); p != nil && p["in"] == "path" {
					name, _ := p["name"].(string)
					declared[name] = true
					if p["required"] != true {
						t.Errorf("%s: path parameter %q is not marked required", key, name)
					}
				}
			}
			for _, sub := range oaPathParam.FindAllStringSubmatch(path, -1) {
				if !declared[sub[1]] {
					t.Errorf("%s: path parameter %q is not declared", key, sub[1])
				}
			}
		}
	}

	s, _ := oaMux()
	routes := s.Routes()
	if len(routes) == 0 {
		t.Fatal("(*api.Server).Routes() returned no routes after Register")
	}
	registered := map[string]bool{}
	var missing []string
	for _, r := range routes {
		if r.Path == "" || !strings.HasPrefix(r.Path, "/") {
			// A pattern without a method would answer every method; the
			// document can only list methods one by one.
			missing = append(missing, fmt.Sprintf("%q (a pattern without a method)", strings.TrimSpace(r.Method+" "+r.Path)))
			continue
		}
		key := r.Method + " " + oaTemplate(r.Path)
		registered[key] = true
		if !documented[key] {
			missing = append(missing, key)
		}
	}
	var extra []string
	for key := range documented {
		_, path, _ := strings.Cut(key, " ")
		if !registered[key] && !slices.Contains(oaUnregistered, path) {
			extra = append(extra, key)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing) > 0 {
		t.Errorf("routes registered by (*api.Server).Register but missing from api/openapi.json:\n\t%s", strings.Join(missing, "\n\t"))
	}
	if len(extra) > 0 {
		t.Errorf("operations in api/openapi.json that (*api.Server).Register does not register:\n\t%s", strings.Join(extra, "\n\t"))
	}
	for _, p := range oaUnregistered {
		if !documented["GET "+p] {
			t.Errorf("GET %s is not documented", p)
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	_, mux := oaMux()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /v1/openapi.json: status %d, want 200; body %s", rec.Code, rec.Body)
	}
	if mt, _, err := mime.ParseMediaType(rec.Header().Get("Content-Type")); err != nil || mt != "application/json" {
		t.Errorf("GET /v1/openapi.json: Content-Type %q, want application/json", rec.Header().Get("Content-Type"))
	}
	if !bytes.Equal(rec.Body.Bytes(), api.OpenAPI()) {
		t.Error("GET /v1/openapi.json does not serve the embedded document")
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("GET /v1/openapi.json: body is not JSON: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf(`GET /v1/openapi.json: "openapi" is %q, want "3.1.0"`, doc.OpenAPI)
	}
}

func TestOpenAPIRefsResolve(t *testing.T) {
	doc := oaDoc(t)
	var bad []string
	n := 0
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if rv, ok := v["$ref"]; ok {
				n++
				ref, _ := rv.(string)
				if !strings.HasPrefix(ref, "#/components/") {
					bad = append(bad, fmt.Sprintf("%s: $ref %v does not point into #/components", at, rv))
				} else if _, ok := oaResolve(doc, ref); !ok {
					bad = append(bad, fmt.Sprintf("%s: $ref %q does not resolve", at, ref))
				}
			}
			for k, c := range v {
				walk(at+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"), c)
			}
		case []any:
			for i, c := range v {
				walk(at+"/"+strconv.Itoa(i), c)
			}
		}
	}
	walk("#", doc)
	if n == 0 {
		t.Error("the document has no $ref at all; is it the real one?")
	}
	slices.Sort(bad)
	if len(bad) > 0 {
		t.Errorf("%d unresolved $ref:\n\t%s", len(bad), strings.Join(bad, "\n\t"))
	}
}

// oaOpen are the response schemas that may carry properties they do not
// list: the document itself, served as it is.
var oaOpen = []string{"#/components/schemas/OpenAPIDocument"}

// TestOpenAPIResponsesAreClosed keeps the validation of answers strict
// enough to catch a renamed field: every object schema a response uses
// lists its properties, says additionalProperties: false (so an unknown
// name is refused) and marks some of them required (so a missing one is).
// A part of an allOf that only refines its sibling is exempt, as the
// sibling closes the object.
func TestOpenAPIResponsesAreClosed(t *testing.T) {
	doc := oaDoc(t)
	seen := map[string]bool{}
	var bad []string
	var walk func(at string, v any)
	walk = func(at string, v any) {
		s, _ := v.(map[string]any)
		if s == nil {
			return
		}
		if ref, ok := s["$ref"].(string); ok {
			if !seen[ref] && !slices.Contains(oaOpen, ref) {
				seen[ref] = true
				target, _ := oaResolve(doc, ref)
				walk(ref, target)
			}
			return
		}
		if s["type"] == "object" {
			props, _ := s["properties"].(map[string]any)
			switch {
			case len(props) == 0 && s["additionalProperties"] == nil:
				bad = append(bad, at+": an object without properties")
			case len(props) > 0 && s["additionalProperties"] != false:
				bad = append(bad, at+": additionalProperties is not false")
			}
			if len(props) > 0 && !oaRequiresSome(s) && !oaAllOptional[at] {
				bad = append(bad, at+": no property is required")
			}
		}
		props, _ := s["properties"].(map[string]any)
		for name, p := range props {
			walk(at+"/properties/"+name, p)
		}
		for _, k := range []string{"items", "additionalProperties", "not"} {
			walk(at+"/"+k, s[k])
		}
		for _, k := range []string{"allOf", "anyOf", "oneOf"} {
			parts, _ := s[k].([]any)
			for i, p := range parts {
				walk(fmt.Sprintf("%s/%s/%d", at, k, i), p)
			}
		}
	}
	paths, _ := doc["paths"].(map[string]any)
	for path, iv := range paths {
		item, _ := iv.(map[string]any)
		for _, m := range oaMethods {
			op, _ := item[m].(map[string]any)
			responses, _ := op["responses"].(map[string]any)
			for status, rv := range responses {
				content, _ := oaDeref(doc, rv)["content"].(map[string]any)
				for ct, mv := range content {
					media, _ := mv.(map[string]any)
					walk(fmt.Sprintf("%s %s %s %s", strings.ToUpper(m), path, status, ct), media["schema"])
				}
			}
		}
	}
	if len(seen) == 0 {
		t.Fatal("no response schema refers to #/components/schemas; is this the real document?")
	}
	slices.Sort(bad)
	if len(bad) > 0 {
		t.Errorf("response schemas that would let a renamed or missing field through:\n\t%s", strings.Join(bad, "\n\t"))
	}
}

// oaRequiresSome tells whether schema s requires a property, itself or in
// each branch of its anyOf or oneOf (an object of several shapes).
func oaRequiresSome(s map[string]any) bool {
	if req, _ := s["required"].([]any); len(req) > 0 {
		return true
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		branches, _ := s[k].([]any)
		all := len(branches) > 0
		for _, b := range branches {
			bm, _ := b.(map[string]any)
			all = all && bm != nil && oaRequiresSome(bm)
		}
		if all {
			return true
		}
	}
	return false
}

// oaAllOptional are response objects each of whose properties may be
// absent: a location names only the parts of a place that are known.
var oaAllOptional = map[string]bool{"#/components/schemas/Location": true}
