// Package fraud holds the domain types shared by every part of the scorer:
// the Transaction that arrives by HTTP or Kafka, the Result that is returned,
// and the Decision, Reason and Alert they carry. It imports nothing of the
// project so that every other package can import it.
package fraud

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Decision is the outcome of scoring, from least to most severe.
type Decision string

const (
	Approve Decision = "approve"
	Review  Decision = "review"
	Decline Decision = "decline"
)

// Severity orders decisions so that rules can only raise a decision.
func (d Decision) Severity() int {
	switch d {
	case Review:
		return 1
	case Decline:
		return 2
	default:
		return 0
	}
}

// Max returns the more severe of d and o.
func (d Decision) Max(o Decision) Decision {
	if o.Severity() > d.Severity() {
		return o
	}
	if d == "" {
		return Approve
	}
	return d
}

// Alerting reports whether the decision raises an alert.
func (d Decision) Alerting() bool { return d == Review || d == Decline }

// Status is the outcome of a transaction when known.
type Status string

const (
	StatusUnknown  Status = ""
	StatusApproved Status = "approved"
	StatusDeclined Status = "declined"
	StatusFailed   Status = "failed"
)

// Failed reports whether the status counts as a failure for velocity
// features (declined or failed).
func (s Status) Failed() bool { return s == StatusDeclined || s == StatusFailed }

// Transaction is one card payment to be scored. Amount is in minor units.
// A Transaction is only meaningful after Validate returned no error.
type Transaction struct {
	ID               string    `json:"transaction_id"`
	CardID           string    `json:"card_id"`
	Amount           int64     `json:"amount"`
	Currency         string    `json:"currency"`
	EventTime        time.Time `json:"event_time"`
	MerchantID       string    `json:"merchant_id,omitempty"`
	MerchantCategory string    `json:"merchant_category,omitempty"`
	DeviceID         string    `json:"device_id,omitempty"`
	Country          string    `json:"country,omitempty"`
	Channel          string    `json:"channel,omitempty"`
	IP               string    `json:"ip,omitempty"`
	Status           Status    `json:"status,omitempty"`
}

// Reason explains a decision with a stable upper-case code.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Result is the answer for one transaction, as returned by POST /score and
// stored in the seen-transactions index.
type Result struct {
	TransactionID string   `json:"transaction_id"`
	Score         float64  `json:"score"`
	Decision      Decision `json:"decision"`
	Reasons       []Reason `json:"reasons"`
	Features      Features `json:"features"`
	ModelVersion  string   `json:"model_version"`
	Degraded      bool     `json:"degraded"`
	Duplicate     bool     `json:"duplicate"`
	Late          bool     `json:"late"`
	AlertID       string   `json:"alert_id,omitempty"`
}

// Alert is published on the alerts topic for every review or decline.
type Alert struct {
	AlertID       string    `json:"alert_id"`
	TransactionID string    `json:"transaction_id"`
	CardID        string    `json:"card_id"`
	Score         float64   `json:"score"`
	Decision      Decision  `json:"decision"`
	Reasons       []Reason  `json:"reasons"`
	Features      Features  `json:"features"`
	ModelVersion  string    `json:"model_version"`
	EventTime     time.Time `json:"event_time"`
	CreatedAt     time.Time `json:"created_at"`
}

// AlertID derives the alert identifier from a transaction_id, so that one
// transaction yields at most one alert whatever the retries.
func AlertID(transactionID string) string {
	sum := sha256.Sum256([]byte(transactionID))
	return "alert_" + hex.EncodeToString(sum[:16])
}
