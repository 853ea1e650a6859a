package api

import _ "embed"

//go:embed openapi.yaml
var specYAML []byte

// Spec returns the OpenAPI 3.1 document describing the HTTP API, as served
// at GET /openapi.yaml. Callers must not modify the returned slice.
func Spec() []byte { return specYAML }
