// Package kafkaconn is how every Kafka client of the scorer reaches the
// brokers: the bootstrap addresses, TLS and SASL in one place, so that the
// consumer, the relays, the dead-letter writer, the admin work and the
// tools all connect the same way.
//
//	c, err := kafkaconn.New(kafkaconn.Config{
//		Brokers: []string{"b-1.example:9096"},
//		TLS:     kafkaconn.TLS{CAFile: "/etc/kafka/ca.pem"},
//		SASL:    kafkaconn.SASL{Mechanism: "scram-sha-512", Username: "scorer", PasswordFile: "/run/secrets/kafka"},
//	})
//	if err != nil { ... }
//	defer c.Close()
//	w := &kafka.Writer{Addr: c.Addr(), Transport: c.Transport(), Topic: "fraud.alerts"}
//	r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.Brokers(), Dialer: c.Dialer(), GroupID: "scorer", Topic: "transactions"})
package kafkaconn

import (
	"fmt"
	"log/slog"
	"strings"
)

// Config says how to reach the brokers. It holds file names, never a
// secret: the password is read from SASL.PasswordFile by New. Its String
// and LogValue show what is set, so it may be logged.
type Config struct {
	Brokers []string // host:port, at least one
	TLS     TLS
	SASL    SASL
}

// TLS configures TLS to the brokers. It is on when Enabled is set or any
// other field is; the zero value is plaintext. Certificates are always
// verified: a broker with a private CA needs CAFile.
type TLS struct {
	Enabled bool // --kafka-tls: TLS with the system's roots when nothing else is set
	// CAFile is a PEM file of the CA certificates that sign the brokers'
	// (--kafka-tls-ca-file); empty: the system's roots.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and its key,
	// for brokers that authenticate clients by certificate (mutual TLS);
	// both or neither (--kafka-tls-cert-file, --kafka-tls-key-file).
	CertFile, KeyFile string
	// ServerName is the name the brokers' certificates must carry
	// (--kafka-tls-server-name); empty: each broker's host as dialled.
	ServerName string
}

// On reports whether t turns TLS on.
func (t TLS) On() bool {
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != ""
}

// SASL configures SASL authentication to the brokers; off when Mechanism
// is empty.
type SASL struct {
	// Mechanism is plain, scram-sha-256 or scram-sha-512, in any case
	// (--kafka-sasl-mechanism).
	Mechanism string
	Username  string // --kafka-sasl-username
	// PasswordFile holds the password (--kafka-sasl-password-file). Line
	// breaks at its end are not part of it; any other byte is.
	PasswordFile string
}

// On reports whether s turns SASL on.
func (s SASL) On() bool { return s.Mechanism != "" }

// The mechanisms SASL.Mechanism accepts, as written in flags.
const (
	mechPlain       = "plain"
	mechScramSHA256 = "scram-sha-256"
	mechScramSHA512 = "scram-sha-512"
)

// String describes c without secrets (it holds none; see Config).
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "brokers=%s", strings.Join(c.Brokers, ","))
	b.WriteString(" " + c.TLS.String())
	b.WriteString(" " + c.SASL.String())
	return b.String()
}

// LogValue is c for slog, as String.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("brokers", strings.Join(c.Brokers, ",")),
		slog.Any("tls", c.TLS),
		slog.Any("sasl", c.SASL),
	)
}

// String describes t: off, or on with the files and server name set.
func (t TLS) String() string {
	if !t.On() {
		return "tls=off"
	}
	s := "tls=on"
	for _, kv := range [][2]string{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"server_name", t.ServerName}} {
		if kv[1] != "" {
			s += " tls_" + kv[0] + "=" + kv[1]
		}
	}
	return s
}

// LogValue is t for slog.
func (t TLS) LogValue() slog.Value {
	if !t.On() {
		return slog.StringValue("off")
	}
	attrs := []slog.Attr{slog.Bool("on", true)}
	for _, kv := range [][2]string{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"server_name", t.ServerName}} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	return slog.GroupValue(attrs...)
}

// String describes s: off, or the mechanism, the user and where the
// password is read from; never the password.
func (s SASL) String() string {
	if !s.On() {
		return "sasl=off"
	}
	return fmt.Sprintf("sasl=%s sasl_username=%s sasl_password_file=%s", strings.ToLower(s.Mechanism), s.Username, s.PasswordFile)
}

// LogValue is s for slog, as String.
func (s SASL) LogValue() slog.Value {
	if !s.On() {
		return slog.StringValue("off")
	}
	return slog.GroupValue(
		slog.String("mechanism", strings.ToLower(s.Mechanism)),
		slog.String("username", s.Username),
		slog.String("password_file", s.PasswordFile),
	)
}
