package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/fraudscore/scorer/fraud"
)

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type   string             `json:"type"`
	Title  string             `json:"title"`
	Status int                `json:"status"`
	Detail string             `json:"detail,omitempty"`
	Errors []fraud.FieldError `json:"errors,omitempty"`
}

// writeProblem answers with application/problem+json. The type URI is a
// stable per-status tag that clients may switch on.
func writeProblem(w http.ResponseWriter, status int, title, detail string, errs []fraud.FieldError) {
	p := Problem{
		Type:   "urn:fraudscore:problem:" + strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "-")),
		Title:  title,
		Status: status,
		Detail: detail,
		Errors: errs,
	}
	b, _ := json.Marshal(p)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	w.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
