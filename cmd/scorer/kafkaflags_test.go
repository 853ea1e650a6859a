package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/fraudscore/scorer/deadletter"
	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/kafkaconn"
)

const kafkaPassword = "cli-Secret-pa55"

// securedBroker starts kfake speaking TLS with SASL PLAIN user "scorer",
// with the topics transactions and transactions.dlq, and returns its
// address, its CA file and the password file.
func securedBroker(t *testing.T) (addr, caFile, passFile string) {
	t.Helper()
	pki := kafkatest.NewPKI(t)
	_, addr = kafkatest.BrokerWith(t, kfake.TLS(pki.ServerTLS(false)), kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "scorer", kafkaPassword), kfake.SeedTopics(2, "transactions", "transactions.dlq", "fraud.alerts"))
	return addr, pki.CAFile, kafkatest.WriteSecret(t, kafkaPassword+"\n")
}

func TestDLQReplayOverTLSAndSASL(t *testing.T) {
	addr, ca, pass := securedBroker(t)
	c, err := kafkaconn.New(kafkaconn.Config{Brokers: []string{addr}, TLS: kafkaconn.TLS{CAFile: ca},
		SASL: kafkaconn.SASL{Mechanism: "plain", Username: "scorer", PasswordFile: pass}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := deadletter.NewWriter(c, "transactions.dlq")
	defer w.Close()
	src := sourceRecord("card_r", "not json")
	if err := w.Send(ctx, src, deadletter.Failure{Class: deadletter.Decode, Err: errors.New("not JSON"), Attempts: 1}); err != nil {
		t.Fatalf("dead-letter over TLS and SASL: %v", err)
	}

	// The password file by its variable, as a container would pass it.
	t.Setenv("SCORER_KAFKA_SASL_PASSWORD_FILE", pass)
	var stdout, stderr bytes.Buffer
	err = run(ctx, []string{"dlq", "replay", "--brokers", addr, "--kafka-tls-ca-file", ca,
		"--kafka-sasl-mechanism", "plain", "--kafka-sasl-username", "scorer"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("dlq replay: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "replayed 1") {
		t.Errorf("dlq replay said:\n%s\nwant 1 replayed", stdout.String())
	}
}

func TestLoadtestKafkaModeOverTLSAndSASL(t *testing.T) {
	addr, ca, pass := securedBroker(t)
	out := filepath.Join(t.TempDir(), "r.json")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"loadtest", "--mode", "kafka", "--brokers", addr,
		"--kafka-tls-ca-file", ca, "--kafka-sasl-mechanism", "plain", "--kafka-sasl-username", "scorer",
		"--kafka-sasl-password-file", pass, "--rate", "20", "--duration", "1s", "--drain", "100ms",
		"--progress=false", "--out", out}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("loadtest: %v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Status map[string]int64 `json:"status"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Status["acked"] != 20 {
		t.Errorf("status %v, want 20 acked produces", rep.Status)
	}
	if strings.Contains(stdout.String()+stderr.String(), kafkaPassword) {
		t.Error("the password was printed")
	}
}

// Bad Kafka settings stop each command before it does anything, with an
// error naming the flag, whether given as a flag or as SCORER_*.
func TestKafkaFlagErrorsNameTheFlag(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	pass := kafkatest.WriteSecret(t, kafkaPassword)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"serve, CA file by variable", []string{"serve", "--kafka-brokers", "127.0.0.1:1"},
			map[string]string{"SCORER_KAFKA_TLS_CA_FILE": missing}, "--kafka-tls-ca-file"},
		{"serve, unknown mechanism", []string{"serve", "--kafka-brokers", "127.0.0.1:1", "--kafka-sasl-mechanism", "kerberos",
			"--kafka-sasl-username", "u", "--kafka-sasl-password-file", pass}, nil, `--kafka-sasl-mechanism "kerberos"`},
		{"serve, TLS with the embedded broker", []string{"serve", "--kafka-tls"}, nil, "embedded broker speaks plaintext"},
		{"dlq replay, user without mechanism", []string{"dlq", "replay", "--brokers", "127.0.0.1:1", "--kafka-sasl-username", "u"},
			nil, "need --kafka-sasl-mechanism"},
		{"loadtest, password file missing", []string{"loadtest", "--mode", "kafka", "--brokers", "127.0.0.1:1",
			"--kafka-sasl-mechanism", "scram-sha-256", "--kafka-sasl-username", "u"},
			map[string]string{"SCORER_KAFKA_SASL_PASSWORD_FILE": missing}, "--kafka-sasl-password-file: open " + missing},
		{"loadtest, certificate without key", []string{"loadtest", "--mode", "kafka", "--kafka-tls-cert-file", missing},
			nil, "--kafka-tls-cert-file needs --kafka-tls-key-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := tc.args
			if args[0] == "serve" {
				args = append(args, "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0", "--embedded-kafka-addr", "127.0.0.1:0",
					"--min-free-disk-mib", "1", "--memory-limit-mib", "0", "--log-level", "error")
			}
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := run(ctx, args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v: %v, want an error saying %q", args, err, tc.want)
			}
		})
	}
}

// sourceRecord is a record of the transactions topic, to dead-letter.
func sourceRecord(key, value string) kafka.Message {
	return kafka.Message{Topic: "transactions", Partition: 1, Offset: 7, Key: []byte(key), Value: []byte(value)}
}
