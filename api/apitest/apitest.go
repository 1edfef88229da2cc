// Package apitest holds the API's answers to its OpenAPI document in tests:
// every response a test receives from a documented path, or from anywhere
// under /v1/, is validated with kin-openapi against api/openapi.json, and a
// response the document does not describe fails the test.
//
// The document is loaded, validated and routed once per test binary.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/handoff-dev/handoff/api"
)

// Doc is the parsed document and its router, built on first use.
type Doc struct {
	T      *openapi3.T
	Router routers.Router
	// problem is the schema every answer to an undocumented route must match.
	problem *openapi3.Schema
}

var (
	loadOnce sync.Once
	loaded   *Doc
	loadErr  error
)

// Load returns the embedded document, parsed and validated, with a router
// over its paths; it fails t when the document does not load, which is a bug
// in the document. The work is done once per test binary.
func Load(t testing.TB) *Doc {
	t.Helper()
	loadOnce.Do(func() { loaded, loadErr = load(api.OpenAPI()) })
	if loadErr != nil {
		t.Fatalf("api/openapi.json: %v", loadErr)
	}
	return loaded
}

func load(raw []byte) (*Doc, error) {
	ctx := context.Background()
	l := openapi3.NewLoader()
	doc, err := l.LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("openapi %q: the validator is set up for 3.1", doc.OpenAPI)
	}
	// Validating the document also checks that every example matches its schema.
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("invalid: %w", err)
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	p := doc.Components.Schemas["Problem"]
	if p == nil || p.Value == nil {
		return nil, errors.New("no #/components/schemas/Problem")
	}
	return &Doc{T: doc, Router: r, problem: p.Value}, nil
}

type undocumentedKey struct{}

// Undocumented returns req marked as sent on purpose to a method and path
// that the document does not list: its answer must then be a 404 or 405
// problem. Without the mark such an answer fails the test, so a test that
// mistypes a path cannot pass on a 404.
func Undocumented(req *http.Request) *http.Request {
	return req.WithContext(context.WithValue(req.Context(), undocumentedKey{}, true))
}

// Check fails t (with Errorf) when res, the answer to req, is not what the
// document describes. Requests outside the API (neither under /v1/ nor a
// documented path) are not checked. res.Body is read and replaced, so the
// caller can still read it.
func Check(t testing.TB, req *http.Request, res *http.Response) {
	t.Helper()
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s %s: %d: reading the body: %v", req.Method, req.URL.Path, res.StatusCode, err)
		return
	}
	if msg := Load(t).validate(req, res.StatusCode, res.Header, body); msg != "" {
		t.Errorf("%s %s: %d does not match api/openapi.json: %s\nbody: %s", req.Method, req.URL.Path, res.StatusCode, msg, abbreviate(body))
	}
}

// validate returns why the response does not match the document, or "".
func (d *Doc) validate(req *http.Request, status int, header http.Header, body []byte) string {
	// The router matches the request's URL against the document's servers
	// ("/"), whatever host the test server listens on.
	probe := req.Clone(context.Background())
	probe.Host, probe.URL.Host, probe.URL.Scheme = "", "", ""
	route, params, err := d.Router.FindRoute(probe)
	if err != nil {
		var rerr *routers.RouteError
		if !errors.As(err, &rerr) {
			return "routing: " + err.Error()
		}
		if !strings.HasPrefix(req.URL.Path, "/v1/") {
			return "" // a page, not the API
		}
		if marked, _ := req.Context().Value(undocumentedKey{}).(bool); !marked {
			return fmt.Sprintf("the document has no operation for it (%s); mark the request with apitest.Undocumented if that is the point of the test", rerr.Reason)
		}
		return d.undocumented(status, header, body)
	}
	if marked, _ := req.Context().Value(undocumentedKey{}).(bool); marked {
		return "the request is marked undocumented, but the document lists " + req.Method + " " + route.Path
	}

	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Options:                options,
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return err.Error()
	}
	// kin-openapi does not look at a body the document gives no content for
	// (a 204, say); the server must then send none.
	if ref := route.Operation.Responses.Status(status); ref != nil && ref.Value != nil && len(ref.Value.Content) == 0 && len(body) > 0 {
		return fmt.Sprintf("the document describes no body for %d, but one was sent (Content-Type %q)", status, header.Get("Content-Type"))
	}
	return ""
}

// undocumented checks the answer to a route the document does not list: the
// catch-all's 404 or 405 problem.
func (d *Doc) undocumented(status int, header http.Header, body []byte) string {
	if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
		return fmt.Sprintf("an undocumented route must answer 404 or 405, not %d", status)
	}
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mt != "application/problem+json" {
		return fmt.Sprintf("Content-Type %q, want application/problem+json", header.Get("Content-Type"))
	}
	v, err := openapi3filter.JSONBodyDecoder(bytes.NewReader(body), header, nil, nil)
	if err != nil {
		return "the body is not JSON: " + err.Error()
	}
	if err := d.problem.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.VisitAsResponse(), openapi3.MultiErrors()); err != nil {
		return "the body is not a #/components/schemas/Problem: " + err.Error()
	}
	return ""
}

// options make ValidateResponse fail on a status the operation does not list
// and report every fault, each without the schema it broke (which can run to
// pages of prose).
var options = func() *openapi3filter.Options {
	o := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	o.WithCustomSchemaErrorFunc(func(err *openapi3.SchemaError) string {
		msg := err.Reason
		if err.Origin != nil {
			msg = err.Origin.Error()
		}
		// The JSON Schema 2020-12 validator names the place itself.
		if p := err.JSONPointer(); len(p) > 0 && !strings.HasPrefix(msg, "error at") {
			msg = fmt.Sprintf("at %q: %s", "/"+strings.Join(p, "/"), msg)
		}
		return msg
	})
	return o
}()

// abbreviate keeps a failure message readable when the body is large.
func abbreviate(b []byte) string {
	const max = 2000
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// Transport returns an http.RoundTripper that sends each request through
// next (http.DefaultTransport when nil) and checks the response with Check.
func Transport(t testing.TB, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	Load(t)
	return roundTripper{t: t, next: next}
}

type roundTripper struct {
	t    testing.TB
	next http.RoundTripper
}

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := rt.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	rt.t.Helper()
	Check(rt.t, req, res)
	return res, nil
}

// NewRequest returns an API request: body, unless nil, as JSON (a string or
// []byte as it is, anything else marshalled), the bearer token unless empty,
// and hdr as header name, value pairs. It fails only on a malformed method
// or URL.
func NewRequest(ctx context.Context, method, url, token string, body any, hdr ...string) (*http.Request, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req, nil
}

// Client returns an http.Client whose every response is checked.
func Client(t testing.TB) *http.Client {
	return &http.Client{Transport: Transport(t, nil)}
}
