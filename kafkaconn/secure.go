package kafkaconn

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// config reads t's files into a client TLS config; nil when TLS is off.
// Errors name the flag whose file is at fault.
func (t TLS) config() (*tls.Config, error) {
	if !t.On() {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--kafka-tls-ca-file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--kafka-tls-ca-file %s: no PEM certificate in it", t.CAFile)
		}
	}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--kafka-tls-cert-file, --kafka-tls-key-file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	case t.CertFile != "":
		return nil, errors.New("--kafka-tls-cert-file needs --kafka-tls-key-file")
	case t.KeyFile != "":
		return nil, errors.New("--kafka-tls-key-file needs --kafka-tls-cert-file")
	}
	return c, nil
}

// mechanism reads the password file and returns the SASL mechanism; nil
// when SASL is off. Errors name the flag at fault and never hold the
// password.
func (s SASL) mechanism() (sasl.Mechanism, error) {
	if !s.On() {
		if s.Username != "" || s.PasswordFile != "" {
			return nil, errors.New("--kafka-sasl-username and --kafka-sasl-password-file need --kafka-sasl-mechanism (plain, scram-sha-256 or scram-sha-512)")
		}
		return nil, nil
	}
	mech := strings.ToLower(s.Mechanism)
	switch mech {
	case mechPlain, mechScramSHA256, mechScramSHA512:
	default:
		return nil, fmt.Errorf("--kafka-sasl-mechanism %q: want plain, scram-sha-256 or scram-sha-512", s.Mechanism)
	}
	if s.Username == "" {
		return nil, fmt.Errorf("--kafka-sasl-mechanism %s needs --kafka-sasl-username", mech)
	}
	if s.PasswordFile == "" {
		return nil, fmt.Errorf("--kafka-sasl-mechanism %s needs --kafka-sasl-password-file", mech)
	}
	b, err := os.ReadFile(s.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("--kafka-sasl-password-file: %w", err)
	}
	password := string(bytes.TrimRight(b, "\r\n"))
	if password == "" {
		return nil, fmt.Errorf("--kafka-sasl-password-file %s: empty", s.PasswordFile)
	}
	var m sasl.Mechanism
	switch mech {
	case mechPlain:
		m = plain.Mechanism{Username: s.Username, Password: password}
	case mechScramSHA256:
		m, err = scram.Mechanism(scram.SHA256, s.Username, password)
	case mechScramSHA512:
		m, err = scram.Mechanism(scram.SHA512, s.Username, password)
	}
	if err != nil {
		// The SCRAM client refuses a name or password that SASLprep
		// cannot normalise; its error quotes neither.
		return nil, fmt.Errorf("--kafka-sasl-username, --kafka-sasl-password-file: %w", err)
	}
	return redacted{name: m.Name(), user: s.Username, start: m.Start}, nil
}

// redacted is a SASL mechanism that prints without its credentials, so
// that a kafka.Dialer, kafka.Transport or kafka.Writer holding it can be
// printed or logged whole, in any of fmt's forms: the mechanism with the
// password is reached only through a func value, which fmt prints as an
// address, and String and GoString describe it.
type redacted struct {
	name, user string
	start      func(context.Context) (sasl.StateMachine, []byte, error)
}

func (r redacted) Name() string { return r.name }
func (r redacted) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	return r.start(ctx)
}
func (r redacted) String() string   { return r.name + " as " + r.user + " (password redacted)" }
func (r redacted) GoString() string { return r.String() }
