package kafkaconn_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/kafkaconn"
)

const password = "pa55-W0rd-never-printed"

func TestNewRefusesBadConfigNamingTheFlag(t *testing.T) {
	pki := kafkatest.NewPKI(t)
	pass := kafkatest.WriteSecret(t, password+"\n")
	empty := kafkatest.WriteSecret(t, "\r\n")
	notPEM := kafkatest.WriteSecret(t, "not a certificate")
	missing := filepath.Join(t.TempDir(), "missing")
	brokers := []string{"127.0.0.1:9092"}
	for _, tc := range []struct {
		name string
		give kafkaconn.Config
		want string
	}{
		{"no brokers", kafkaconn.Config{Brokers: []string{" ", ""}}, "no brokers"},
		{"CA file missing", kafkaconn.Config{Brokers: brokers, TLS: kafkaconn.TLS{CAFile: missing}}, "--kafka-tls-ca-file"},
		{"CA file without a certificate", kafkaconn.Config{Brokers: brokers, TLS: kafkaconn.TLS{CAFile: notPEM}}, "--kafka-tls-ca-file " + notPEM + ": no PEM certificate"},
		{"certificate without key", kafkaconn.Config{Brokers: brokers, TLS: kafkaconn.TLS{CertFile: pki.ClientCertFile}}, "--kafka-tls-cert-file needs --kafka-tls-key-file"},
		{"key without certificate", kafkaconn.Config{Brokers: brokers, TLS: kafkaconn.TLS{KeyFile: pki.ClientKeyFile}}, "--kafka-tls-key-file needs --kafka-tls-cert-file"},
		{"key that is not the certificate's", kafkaconn.Config{Brokers: brokers, TLS: kafkaconn.TLS{CertFile: pki.ClientCertFile, KeyFile: pki.ServerKeyFile}}, "--kafka-tls-cert-file, --kafka-tls-key-file"},
		{"unknown mechanism", kafkaconn.Config{Brokers: brokers, SASL: kafkaconn.SASL{Mechanism: "gssapi", Username: "u", PasswordFile: pass}}, `--kafka-sasl-mechanism "gssapi": want plain, scram-sha-256 or scram-sha-512`},
		{"mechanism without user", kafkaconn.Config{Brokers: brokers, SASL: kafkaconn.SASL{Mechanism: "plain", PasswordFile: pass}}, "needs --kafka-sasl-username"},
		{"mechanism without password file", kafkaconn.Config{Brokers: brokers, SASL: kafkaconn.SASL{Mechanism: "scram-sha-256", Username: "u"}}, "needs --kafka-sasl-password-file"},
		{"password file missing", kafkaconn.Config{Brokers: brokers, SASL: kafkaconn.SASL{Mechanism: "scram-sha-512", Username: "u", PasswordFile: missing}}, "--kafka-sasl-password-file: open " + missing},
		{"password file empty", kafkaconn.Config{Brokers: brokers, SASL: kafkaconn.SASL{Mechanism: "plain", Username: "u", PasswordFile: empty}}, "--kafka-sasl-password-file " + empty + ": empty"},
		{"user without mechanism", kafkaconn.Config{Brokers: brokers, SASL: kafkaconn.SASL{Username: "u", PasswordFile: pass}}, "need --kafka-sasl-mechanism"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := kafkaconn.New(tc.give)
			if err == nil {
				c.Close()
				t.Fatalf("New(%v) = nil error, want one with %q", tc.give, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v\nwant it to say %q", err, tc.want)
			}
		})
	}
}

func TestNewAcceptsGoodConfig(t *testing.T) {
	pki := kafkatest.NewPKI(t)
	pass := kafkatest.WriteSecret(t, password+"\r\n")
	for _, mech := range []string{"plain", "SCRAM-SHA-256", "scram-sha-512", ""} {
		c, err := kafkaconn.New(kafkaconn.Config{
			Brokers: []string{"127.0.0.1:9092"},
			TLS:     kafkaconn.TLS{CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile, ServerName: "kafka.test"},
			SASL:    kafkaconn.SASL{Mechanism: mech, Username: map[bool]string{true: "scorer"}[mech != ""], PasswordFile: map[bool]string{true: pass}[mech != ""]},
		})
		if err != nil {
			t.Errorf("mechanism %q: %v", mech, err)
			continue
		}
		c.Close()
	}
}

// The password is read into the Cluster and into the SASL mechanism of
// every dialer and transport it builds: none of them may print it, in any
// of fmt's forms or through slog.
func TestSecretsAreNeverPrinted(t *testing.T) {
	pki := kafkatest.NewPKI(t)
	pass := kafkatest.WriteSecret(t, password)
	for _, mech := range []string{"plain", "scram-sha-256", "scram-sha-512"} {
		cfg := kafkaconn.Config{
			Brokers: []string{"127.0.0.1:9092"},
			TLS:     kafkaconn.TLS{CAFile: pki.CAFile},
			SASL:    kafkaconn.SASL{Mechanism: mech, Username: "scorer", PasswordFile: pass},
		}
		c, err := kafkaconn.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var out bytes.Buffer
		for _, v := range []any{c, *c.Dialer(), c.Dialer(), c.Transport(), c.Writer("t"), cfg} {
			fmt.Fprintf(&out, "%v\n%+v\n%#v\n%s\n", v, v, v, v)
		}
		log := slog.New(slog.NewJSONHandler(&out, nil))
		log.Info("kafka", "cluster", c, "config", cfg, "dialer", c.Dialer())
		slog.New(slog.NewTextHandler(&out, nil)).Info("kafka", "cluster", c, "config", cfg)
		if strings.Contains(out.String(), password) {
			t.Fatalf("%s: the password was printed:\n%s", mech, out.String())
		}
		for _, want := range []string{"sasl=" + mech, "scorer", pass, "tls=on"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: printed forms do not say %q:\n%s", mech, want, out.String())
			}
		}
	}
}

func TestPasswordFileKeepsInnerSpace(t *testing.T) {
	// Only the line break that editors add is dropped; the password could
	// end in a space.
	f := kafkatest.WriteSecret(t, " a b \n")
	if _, err := kafkaconn.New(kafkaconn.Config{Brokers: []string{"x:1"}, SASL: kafkaconn.SASL{Mechanism: "plain", Username: "u", PasswordFile: f}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(f)
	if string(b) != " a b \n" {
		t.Fatal("the password file was changed")
	}
}
