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

// Problem types beyond the per-status ones, for answers a client should
// tell apart from others of the same status.
const (
	// ProblemIdempotencyConflict: a transaction_id reused with other fields.
	ProblemIdempotencyConflict = "urn:fraudscore:problem:idempotency-conflict"
	// ProblemInsufficientStorage: the service refuses work while its disk
	// is nearly full.
	ProblemInsufficientStorage = "urn:fraudscore:problem:insufficient-storage"
)

// statusType is the stable per-status problem type URI, e.g.
// urn:fraudscore:problem:bad-request.
func statusType(status int) string {
	return "urn:fraudscore:problem:" + strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "-"))
}

// writeProblem answers with application/problem+json. The type URI is a
// stable per-status tag that clients may switch on.
func writeProblem(w http.ResponseWriter, status int, title, detail string, errs []fraud.FieldError) {
	writeProblemType(w, status, statusType(status), title, detail, errs)
}

// writeProblemType is writeProblem with a type of its own.
func writeProblemType(w http.ResponseWriter, status int, typ, title, detail string, errs []fraud.FieldError) {
	p := Problem{
		Type:   typ,
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

// problemJSON is the body of a problem without field errors.
func problemJSON(status int, title, detail string) []byte {
	b, _ := json.Marshal(Problem{Type: statusType(status), Title: title, Status: status, Detail: detail})
	return b
}
