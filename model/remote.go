package model

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Defaults of RemoteOptions.
const (
	DefaultFailureThreshold = 5
	DefaultOpenFor          = 2 * time.Second
	DefaultRemoteTimeout    = 2 * time.Second
	// MaxRemoteBody bounds the response body Remote reads; a larger one is
	// an error.
	MaxRemoteBody = 1 << 20
	// DefaultRemoteMaxInFlight is the default RemoteOptions.MaxInFlight.
	DefaultRemoteMaxInFlight = 16
)

// ErrBusy is returned by Remote.Predict when MaxInFlight calls are already
// in flight. It is not a failure of the server: the breaker does not count
// it.
var ErrBusy = errors.New("remote model: every call slot is taken")

// DefaultRemoteFeatures returns the order of the values Remote sends by
// default: the 9 velocity features of DESIGN.md, in its order, then
// "amount" (minor units).
func DefaultRemoteFeatures() []string {
	return []string{
		"card_tx_count_1m", "card_tx_count_5m", "card_tx_count_1h", "card_tx_count_24h",
		"card_amount_sum_1h", "card_amount_sum_24h", "card_failed_count_10m",
		"card_distinct_merchants_1h", "card_seconds_since_prev", "amount",
	}
}

// RemoteOptions configure a Remote.
type RemoteOptions struct {
	// URL is the model's base URL in the Open Inference Protocol, e.g.
	// http://models:8080/v2/models/fraud (or .../versions/3); Predict posts
	// to URL + "/infer". Required, http or https.
	URL string
	// Features name the values sent, in this order, as the one FP64 input
	// tensor "features" of shape [1, len(Features)]: velocity features by
	// name and the transaction variables of TransactionVariables. A feature
	// missing from the Input is sent as 0 (as rules read it);
	// card_seconds_since_prev is sent raw (-1: no earlier transaction).
	// Nil means DefaultRemoteFeatures.
	Features []string
	// Client sends the requests. Nil means a client with its own pooled
	// transport and no overall timeout: each call's ctx deadline rules.
	Client *http.Client
	// FailureThreshold is how many consecutive failures open the breaker
	// [DefaultFailureThreshold].
	FailureThreshold uint32
	// OpenFor is how long the breaker stays open before it lets trial
	// requests through (half-open) [DefaultOpenFor].
	OpenFor time.Duration
	// HalfOpenRequests is how many trial requests the half-open breaker
	// lets through; that many successes close it, one failure opens it
	// again [1].
	HalfOpenRequests uint32
	// Timeout bounds a call whose ctx has no deadline
	// [DefaultRemoteTimeout]. A ctx deadline, when there is one, is used
	// as it is.
	Timeout time.Duration
	// MaxInFlight bounds the calls in flight to the server at once
	// [DefaultRemoteMaxInFlight]. A call that finds them all taken fails
	// at once with ErrBusy (the fallback answers), rather than queueing at
	// a saturated server while it holds the request's admission slot: a
	// model server that takes 4 calls at a time would otherwise make every
	// scoring wait for it, and the whole service go at its pace.
	MaxInFlight int
	// Name names the breaker in logs [the URL's host].
	Name string
	// Logger receives breaker state changes [slog.Default()].
	Logger *slog.Logger
}

// Remote is a Model served by a model server over the Open Inference
// Protocol (KServe v2 REST), behind a circuit breaker. It is safe for
// concurrent use.
//
// Each Predict posts
//
//	{"id": "<transaction_id>", "inputs": [{"name": "features", "shape": [1, N],
//	  "datatype": "FP64", "data": [<N values in RemoteOptions.Features order>]}]}
//
// and reads the first value of the first output (datatype FP64 or FP32,
// data flat or nested) as the fraud probability. A Remote has no reasons:
// its Predictions have no Contributions.
type Remote struct {
	inferURL string
	host     string
	features []variable
	client   *http.Client
	timeout  time.Duration
	cb       *gobreaker.CircuitBreaker[Prediction]
	slots    chan struct{}          // one token per call in flight
	version  atomic.Pointer[string] // last seen, "remote:<name>/<version>"
}

var _ Model = (*Remote)(nil)

// NewRemote returns a Remote for o. It checks the options but does not
// contact the server.
func NewRemote(o RemoteOptions) (*Remote, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("remote model: URL %q: want an absolute http or https URL", o.URL)
	}
	names := o.Features
	if names == nil {
		names = DefaultRemoteFeatures()
	}
	if len(names) == 0 {
		return nil, errors.New("remote model: at least one feature is required")
	}
	r := &Remote{
		inferURL: strings.TrimSuffix(u.String(), "/") + "/infer",
		host:     u.Host,
		client:   o.Client,
		timeout:  cmp0(o.Timeout, DefaultRemoteTimeout),
		slots:    make(chan struct{}, cmp0(max(o.MaxInFlight, 0), DefaultRemoteMaxInFlight)),
	}
	for i, n := range names {
		if n == "" || slices.Contains(names[:i], n) {
			return nil, fmt.Errorf("remote model: features[%d] %q: empty or duplicate", i, n)
		}
		r.features = append(r.features, newVariable(n))
	}
	if r.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 256
		t.MaxIdleConnsPerHost = 64 // the default 2 would redial under concurrent scoring
		r.client = &http.Client{Transport: t}
	}
	name := cmp0(o.Name, u.Host)
	threshold := cmp0(o.FailureThreshold, DefaultFailureThreshold)
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	r.cb = gobreaker.NewCircuitBreaker[Prediction](gobreaker.Settings{
		Name:        name,
		MaxRequests: cmp0(o.HalfOpenRequests, 1),
		Timeout:     cmp0(o.OpenFor, DefaultOpenFor),
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= threshold },
		// Only a caller that gave up cancels: see Predict. A deadline
		// that passed counts as a failure (the server was too slow).
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			level := slog.LevelInfo
			if to == gobreaker.StateOpen {
				level = slog.LevelWarn
			}
			log.Log(context.Background(), level, "model breaker state changed", "breaker", name, "from", from.String(), "to", to.String())
		},
	})
	return r, nil
}

// cmp0 is v, or def when v is the zero value.
func cmp0[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Version returns "remote:" and the model name and version of the last
// answer ("remote:fraud-gbm/7"), or the URL's host before any answer.
func (r *Remote) Version() string {
	if v := r.version.Load(); v != nil {
		return *v
	}
	return "remote:" + r.host
}

// BreakerState returns "closed", "half-open" or "open".
func (r *Remote) BreakerState() string { return r.cb.State().String() }

// Counts returns the breaker's counts in its current state (they restart
// at each change of state).
func (r *Remote) Counts() gobreaker.Counts { return r.cb.Counts() }

// CheckVariables returns an error naming each feature of r that is neither
// in known nor a transaction variable; such a feature would always be sent
// as 0.
func (r *Remote) CheckVariables(known []string) error {
	names := make([]string, len(r.features))
	for i := range r.features {
		names[i] = r.features[i].name
	}
	return checkVariables("remote model "+r.host, names, known)
}

// Predict asks the model server to score in, under ctx (the deadline is
// sent nowhere: the call is simply abandoned when ctx is done).
//
// The breaker counts as failures transport errors, non-2xx statuses,
// invalid or oversized bodies, scores that are not a finite number in
// [0,1], and ctx's deadline passing; it does not count a call cut short
// because the caller cancelled ctx. While the breaker is open Predict
// returns at once an error wrapping gobreaker.ErrOpenState (or, half-open
// with its trial requests in flight, gobreaker.ErrTooManyRequests). An
// input with a non-finite feature value is an error that is not sent and
// not counted. Errors name the breaker and wrap the cause.
func (r *Remote) Predict(ctx context.Context, in Input) (Prediction, error) {
	if err := ctx.Err(); err != nil {
		return Prediction{}, err // never tried: nothing for the breaker to learn
	}
	select {
	case r.slots <- struct{}{}:
		defer func() { <-r.slots }()
	default:
		return Prediction{}, fmt.Errorf("remote model %s: %w", r.cb.Name(), ErrBusy)
	}
	body, err := r.request(&in)
	if err != nil {
		return Prediction{}, err
	}
	callCtx := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	p, err := r.cb.Execute(func() (Prediction, error) {
		p, err := r.infer(callCtx, body)
		return p, callerCancelled(ctx, err)
	})
	if err != nil {
		return Prediction{}, fmt.Errorf("remote model %s: %w", r.cb.Name(), err)
	}
	return p, nil
}

// callerCancelled makes err wrap context.Canceled, which the breaker
// excludes, exactly when the caller's ctx was cancelled; whatever else
// failed is counted.
func callerCancelled(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.Canceled):
		if !errors.Is(err, context.Canceled) {
			return fmt.Errorf("%w: %w", context.Canceled, err)
		}
		return err
	case errors.Is(err, context.Canceled):
		return errors.New(err.Error()) // not the caller's doing: count it
	}
	return err
}

// inferRequest is the Open Inference Protocol request body.
type inferRequest struct {
	ID     string        `json:"id,omitempty"`
	Inputs []inferTensor `json:"inputs"`
}

type inferTensor struct {
	Name     string          `json:"name"`
	Shape    []int           `json:"shape"`
	Datatype string          `json:"datatype"`
	Data     json.RawMessage `json:"data"`
}

// inferResponse is the Open Inference Protocol response body.
type inferResponse struct {
	ModelName    string        `json:"model_name"`
	ModelVersion string        `json:"model_version"`
	ID           string        `json:"id"`
	Outputs      []inferTensor `json:"outputs"`
}

// request encodes the body for in.
func (r *Remote) request(in *Input) ([]byte, error) {
	data := make([]byte, 0, 16*len(r.features)+2)
	data = append(data, '[')
	for i := range r.features {
		f := &r.features[i]
		x, _ := f.value(in) // missing reads as 0
		if !finite(x) {
			return nil, fmt.Errorf("remote model %s: feature %s is not a finite number", r.cb.Name(), f.name)
		}
		if i > 0 {
			data = append(data, ',')
		}
		data = strconv.AppendFloat(data, x, 'g', -1, 64)
	}
	data = append(data, ']')
	req := inferRequest{Inputs: []inferTensor{{
		Name: "features", Shape: []int{1, len(r.features)}, Datatype: "FP64", Data: data,
	}}}
	if in.Tx != nil {
		req.ID = in.Tx.ID
	}
	return json.Marshal(req)
}

// infer makes one call and returns the validated prediction.
func (r *Remote) infer(ctx context.Context, body []byte) (Prediction, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.inferURL, bytes.NewReader(body))
	if err != nil {
		return Prediction{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return Prediction{}, err // a *url.Error, wrapping ctx.Err() when ctx ended it
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return Prediction{}, fmt.Errorf("infer: status %d: %q", resp.StatusCode, snippet)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxRemoteBody+1))
	if err != nil {
		return Prediction{}, fmt.Errorf("infer: read body: %w", err)
	}
	if len(data) > MaxRemoteBody {
		return Prediction{}, fmt.Errorf("infer: body over %d bytes", MaxRemoteBody)
	}
	var out inferResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return Prediction{}, fmt.Errorf("infer: decode body: %w", err)
	}
	score, err := out.score()
	if err != nil {
		return Prediction{}, fmt.Errorf("infer: %w", err)
	}
	version := "remote:" + strings.Trim(out.ModelName+"/"+out.ModelVersion, "/")
	if version == "remote:" {
		version += r.host
	}
	if v := r.version.Load(); v == nil || *v != version {
		r.version.Store(&version)
	}
	return Prediction{Score: score, version: version}, nil
}

// score is the first value of the first output, checked to be a
// probability.
func (b *inferResponse) score() (float64, error) {
	if len(b.Outputs) == 0 {
		return 0, errors.New("no outputs")
	}
	o := &b.Outputs[0]
	if o.Datatype != "FP64" && o.Datatype != "FP32" {
		return 0, fmt.Errorf("output %q: datatype %q, want FP64 or FP32", o.Name, o.Datatype)
	}
	dec := json.NewDecoder(bytes.NewReader(o.Data))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return 0, fmt.Errorf("output %q: no value: %w", o.Name, err)
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '[' {
				continue // nested data: [[0.3]]
			}
		case json.Number:
			x, err := v.Float64()
			if err != nil || !(x >= 0 && x <= 1) {
				return 0, fmt.Errorf("output %q: score %s: %w", o.Name, v, ErrInvalidPrediction)
			}
			return x, nil
		}
		return 0, fmt.Errorf("output %q: data %.40s: want numbers", o.Name, o.Data)
	}
}
