// Package openapitest checks HTTP exchanges against the service's OpenAPI
// document in tests, with github.com/getkin/kin-openapi.
//
// Typical use with a real server:
//
//	v := openapitest.New(t, api.Spec())
//	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/score", bytes.NewReader(body))
//	req.Header.Set("Content-Type", "application/json")
//	resp, _ := srv.Client().Do(req)
//	respBody, _ := io.ReadAll(resp.Body)
//	v.Check(t, req, body, resp.StatusCode, resp.Header, respBody)
//
// Requests are matched on method and path only: the servers of the document
// are ignored, so absolute URLs to any host (httptest servers) match.
//
// Security requirements are not enforced: authentication is optional in the
// API, so a request without Authorization is valid.
//
// Responses with a status the operation does not document fail the check.
package openapitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// maxBodyInMessage bounds how much of a body a failure message quotes.
const maxBodyInMessage = 2048

// Validator checks HTTP exchanges against the embedded spec.
// It is safe for concurrent use.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
}

// New loads spec, validates it as an OpenAPI document and returns a
// Validator for it. It calls t.Fatal when the document does not load or is
// invalid.
func New(t testing.TB, spec []byte) *Validator {
	t.Helper()
	v, err := NewValidator(spec)
	if err != nil {
		t.Fatalf("openapitest: %v", err)
	}
	return v
}

// NewValidator is New without a testing.TB: it returns the load or
// validation error of the document.
func NewValidator(spec []byte) (*Validator, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("loading the OpenAPI document: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is invalid: %w", err)
	}
	// Match on the path only: with no servers, the router matches any scheme
	// and host, and no base path.
	doc.Servers = nil
	for _, item := range doc.Paths.Map() {
		item.Servers = nil
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("building the router: %w", err)
	}
	return &Validator{doc: doc, router: router}, nil
}

// Doc returns the loaded document. Callers must not modify it.
func (v *Validator) Doc() *openapi3.T { return v.doc }

func options(excludeRequestBody bool) *openapi3filter.Options {
	o := &openapi3filter.Options{
		// Authentication is optional in this API: accept any (or no) credentials.
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		// An undocumented status is a contract violation.
		IncludeResponseStatus: true,
		ExcludeRequestBody:    excludeRequestBody,
		MultiError:            true,
		SkipSettingDefaults:   true,
		// kin-openapi checks date-time by default but ipv4 and ipv6 only when
		// enabled; enable them here rather than with the process-global
		// openapi3.DefineIPv4Format.
		SchemaValidationOptions: []openapi3.SchemaValidationOption{
			openapi3.WithStringFormatValidator("ipv4", openapi3.NewIPValidator(true)),
			openapi3.WithStringFormatValidator("ipv6", openapi3.NewIPValidator(false)),
		},
	}
	o.WithCustomSchemaErrorFunc(schemaErrorMessage)
	return o
}

// schemaErrorMessage shortens kin-openapi's schema errors, which quote the
// whole schema and value, to the location and the reason; the failure
// message quotes the body anyway.
func schemaErrorMessage(err *openapi3.SchemaError) string {
	reason := err.Reason
	if reason == "" {
		reason = fmt.Sprintf("does not match the schema's %q", err.SchemaField)
	}
	if err.Origin != nil {
		reason += ": " + err.Origin.Error()
	}
	ptr := "/" + strings.Join(err.JSONPointer(), "/")
	if strings.Contains(reason, ptr) {
		return reason
	}
	return fmt.Sprintf("at %q: %s", ptr, reason)
}

// input finds the operation of req and builds the validation input for it.
// The request is cloned, so req (and its consumed body) is left untouched;
// reqBody stands for its body.
func (v *Validator) input(req *http.Request, reqBody []byte, excludeRequestBody bool) (*openapi3filter.RequestValidationInput, error) {
	if req == nil {
		return nil, errors.New("nil request")
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s is not in the OpenAPI document: %w", req.Method, req.URL.Path, err)
	}
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(reqBody)), nil }
	r.ContentLength = int64(len(reqBody))
	return &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: params,
		Route:      route,
		Options:    options(excludeRequestBody),
	}, nil
}

// ValidateRequest validates req against the spec and returns why it does
// not match, or nil. It validates the path, query and header parameters, and
// the body given in reqBody unless reqBody is nil (the body of a request
// that was already sent has been consumed, so it is passed separately).
func (v *Validator) ValidateRequest(req *http.Request, reqBody []byte) error {
	in, err := v.input(req, reqBody, reqBody == nil)
	if err != nil {
		return err
	}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		return fmt.Errorf("request %s %s does not match the OpenAPI document: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// ValidateResponse validates a response to req against the spec and returns
// why it does not match, or nil. The request itself is not validated.
func (v *Validator) ValidateResponse(req *http.Request, status int, header http.Header, respBody []byte) error {
	in, err := v.input(req, nil, true)
	if err != nil {
		return err
	}
	if header == nil {
		header = http.Header{}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Options:                in.Options,
	}
	out.SetBodyBytes(respBody)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Errorf("response %d (Content-Type %q) to %s %s does not match the OpenAPI document: %w\nresponse body: %s",
			status, header.Get("Content-Type"), req.Method, req.URL.Path, err, quote(respBody))
	}
	return nil
}

// Check validates the request (if body non-nil) and the response against the spec and fails t with a clear message.
//
// The request's parameters (path, query, headers) are always validated; its
// body is validated when reqBody is non-nil. For a request that a test makes
// invalid on purpose, use CheckResponse. Check reports with t.Errorf, so it
// may be called from any goroutine.
func (v *Validator) Check(t testing.TB, req *http.Request, reqBody []byte, status int, header http.Header, respBody []byte) {
	t.Helper()
	if err := v.ValidateRequest(req, reqBody); err != nil {
		t.Errorf("openapitest: %v\nrequest body: %s\n(use CheckResponse for a request that is invalid on purpose)", err, quote(reqBody))
	}
	v.CheckResponse(t, req, status, header, respBody)
}

// CheckResponse validates only the response to req against the spec and
// fails t with a clear message. The request may be invalid (tests of 400,
// 413, 415): only its method and path are used, to find the operation.
func (v *Validator) CheckResponse(t testing.TB, req *http.Request, status int, header http.Header, respBody []byte) {
	t.Helper()
	if err := v.ValidateResponse(req, status, header, respBody); err != nil {
		t.Errorf("openapitest: %v", err)
	}
}

func quote(b []byte) string {
	if b == nil {
		return "(none)"
	}
	if len(b) > maxBodyInMessage {
		return fmt.Sprintf("%s... (%d bytes)", b[:maxBodyInMessage], len(b))
	}
	return string(b)
}
