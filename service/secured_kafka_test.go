package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/kafkaconn"
	"github.com/fraudscore/scorer/service"
)

const kafkaPassword = "s3cret-Kafka-pa55word"

// securedBroker starts kfake speaking TLS only, with SASL SCRAM-SHA-512
// user "scorer", and returns its address and the client settings that
// reach it.
func securedBroker(t *testing.T) (string, kafkaconn.TLS, kafkaconn.SASL) {
	t.Helper()
	pki := kafkatest.NewPKI(t)
	_, addr := kafkatest.BrokerWith(t, kfake.TLS(pki.ServerTLS(false)),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "scorer", kafkaPassword))
	return addr, kafkaconn.TLS{CAFile: pki.CAFile},
		kafkaconn.SASL{Mechanism: "scram-sha-512", Username: "scorer", PasswordFile: kafkatest.WriteSecret(t, kafkaPassword+"\n")}
}

// logBuffer collects a service's logs, and tells when a given message is
// logged.
type logBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func newLogBuffer(want string) *logBuffer { return &logBuffer{want: want, seen: make(chan struct{})} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.want != "" && bytes.Contains(p, []byte(`"msg":"`+l.want+`"`)) {
		l.once.Do(func() { close(l.seen) })
	}
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// readOne reads topic from the beginning with a consumer-group reader of
// c until a record for which match holds arrives.
func readOne(t *testing.T, ctx context.Context, c *kafkaconn.Cluster, topic string, match func(kafka.Message) bool) kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.Brokers(), Dialer: c.Dialer(), GroupID: "test-" + topic, Topic: topic,
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s: %v", topic, err)
		}
		if match(m) {
			return m
		}
	}
}

// TestSecuredKafkaEndToEnd runs the service against a broker that speaks
// only TLS with SASL SCRAM-SHA-512: it creates its topics, scores a record
// from the transactions topic, relays its alert to fraud.alerts,
// dead-letters a record that is not JSON, and answers /readyz with a full
// TLS and SASL connection; the password is nowhere in its logs.
func TestSecuredKafkaEndToEnd(t *testing.T) {
	addr, tlsCfg, saslCfg := securedBroker(t)
	logs := newLogBuffer("")
	r := startConfig(t, service.Config{DataDir: t.TempDir(), KafkaBrokers: addr, KafkaTLS: tlsCfg, KafkaSASL: saslCfg, Logger: logs.logger()})

	client, err := kafkaconn.New(kafkaconn.Config{Brokers: []string{addr}, TLS: tlsCfg, SASL: saslCfg})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := client.Writer("transactions")
	w.RequiredAcks = kafka.RequireAll
	defer w.Close()
	if err := w.WriteMessages(ctx,
		kafka.Message{Key: []byte("card_sec"), Value: txJSON("sec-1", "card_sec", 750000, time.Now().Add(-time.Minute), "")},
		kafka.Message{Key: []byte("card_sec"), Value: []byte("this is not json")},
	); err != nil {
		t.Fatalf("produce over TLS and SASL: %v", err)
	}

	m := readOne(t, ctx, client, "fraud.alerts", func(m kafka.Message) bool { return kafkatest.Header(m, "transaction_id") == "sec-1" })
	var a fraud.Alert
	if err := json.Unmarshal(m.Value, &a); err != nil {
		t.Fatalf("alert is not JSON: %s", m.Value)
	}
	if a.AlertID != fraud.AlertID("sec-1") || a.CardID != "card_sec" || a.Decision == fraud.Approve {
		t.Errorf("alert %+v, want a review or decline of sec-1 on card_sec", a)
	}
	d := readOne(t, ctx, client, "transactions.dlq", func(kafka.Message) bool { return true })
	if string(d.Value) != "this is not json" || kafkatest.Header(d, "dlq.error.class") != "decode" {
		t.Errorf("dead letter %q class %q, want the record that is not JSON, class decode", d.Value, kafkatest.Header(d, "dlq.error.class"))
	}

	if st, rd := ready(t, r.Addr()); st != 200 || rd.Checks["kafka"] != "ok" {
		t.Errorf("/readyz = %d %+v, want 200 with kafka ok", st, rd)
	}
	out := logs.String()
	if strings.Contains(out, kafkaPassword) {
		t.Fatalf("the SASL password is in the service's logs:\n%s", out)
	}
	if !strings.Contains(out, `"mechanism":"scram-sha-512"`) || !strings.Contains(out, `"msg":"kafka ready"`) {
		t.Errorf("the logs do not say how Kafka is reached:\n%s", out)
	}
}

// A wrong password is not a start-up error (brokers may be away at
// start-up, and are waited for), but it is said at once: in the log and in
// /readyz, naming the mechanism and the user, not the password.
func TestSecuredKafkaWrongPasswordIsSaid(t *testing.T) {
	addr, tlsCfg, saslCfg := securedBroker(t)
	saslCfg.PasswordFile = kafkatest.WriteSecret(t, "not-"+kafkaPassword)
	logs := newLogBuffer("kafka topics not ready; retrying")
	ctx, cancel := context.WithCancel(context.Background())
	s, err := service.New(ctx, service.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", KafkaBrokers: addr,
		KafkaTLS: tlsCfg, KafkaSASL: saslCfg, Logger: logs.logger()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("service stopped with %v", err)
		}
	}()
	select {
	case <-logs.seen:
	case <-time.After(30 * time.Second):
		t.Fatal("no log line about the topics in 30s")
	}
	const want = `SASL SCRAM-SHA-512 authentication as \"scorer\" failed`
	if !strings.Contains(logs.String(), want) {
		t.Errorf("the log does not say the authentication failed:\n%s", logs.String())
	}
	st, rd := ready(t, s.Addr())
	if st != 503 || !strings.Contains(rd.Checks["kafka"], `SASL SCRAM-SHA-512 authentication as "scorer" failed`) {
		t.Errorf("/readyz = %d %+v, want 503 saying the authentication failed", st, rd)
	}
	if strings.Contains(logs.String(), kafkaPassword) || strings.Contains(rd.Checks["kafka"], kafkaPassword) {
		t.Error("the password was logged or shown")
	}
}

func TestSecuredKafkaBadConfigStopsStartUp(t *testing.T) {
	pki := kafkatest.NewPKI(t)
	pass := kafkatest.WriteSecret(t, kafkaPassword)
	empty := kafkatest.WriteSecret(t, "\n")
	for _, tc := range []struct {
		name string
		give service.Config
		want string
	}{
		{"TLS with the embedded broker", service.Config{KafkaBrokers: "embedded", KafkaTLS: kafkaconn.TLS{CAFile: pki.CAFile}}, "the embedded broker speaks plaintext"},
		{"SASL with the embedded broker", service.Config{KafkaBrokers: "embedded", KafkaSASL: kafkaconn.SASL{Mechanism: "plain", Username: "u", PasswordFile: pass}}, "the embedded broker speaks plaintext"},
		{"a missing CA file", service.Config{KafkaBrokers: "127.0.0.1:1", KafkaTLS: kafkaconn.TLS{CAFile: filepath.Join(t.TempDir(), "ca.pem")}}, "--kafka-tls-ca-file"},
		{"an unknown mechanism", service.Config{KafkaBrokers: "127.0.0.1:1", KafkaSASL: kafkaconn.SASL{Mechanism: "oauthbearer", Username: "u", PasswordFile: pass}}, "--kafka-sasl-mechanism"},
		{"an empty password file", service.Config{KafkaBrokers: "127.0.0.1:1", KafkaSASL: kafkaconn.SASL{Mechanism: "scram-sha-256", Username: "u", PasswordFile: empty}}, "--kafka-sasl-password-file " + empty + ": empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.give
			cfg.DataDir, cfg.HTTPAddr, cfg.EmbeddedKafkaAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
			cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			s, err := service.New(context.Background(), cfg)
			if err == nil {
				s.Close()
				t.Fatalf("service started, want an error with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("start-up error %q, want it to say %q", err, tc.want)
			}
		})
	}
}
