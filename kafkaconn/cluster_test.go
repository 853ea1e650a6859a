package kafkaconn_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/fraudscore/scorer/internal/kafkatest"
	"github.com/fraudscore/scorer/kafkaconn"
)

// kfake's names of the SASL mechanisms, by ours.
var kfakeMechanism = map[string]string{"plain": "PLAIN", "scram-sha-256": "SCRAM-SHA-256", "scram-sha-512": "SCRAM-SHA-512"}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// secureBroker starts kfake with TLS (the server certificate of pki) and
// SASL, with user "scorer" and password for mechanism.
func secureBroker(t *testing.T, pki *kafkatest.PKI, clientCert bool, mechanism string) string {
	t.Helper()
	_, addr := kafkatest.BrokerWith(t, kfake.TLS(pki.ServerTLS(clientCert)),
		kfake.EnableSASL(), kfake.Superuser(kfakeMechanism[mechanism], "scorer", password))
	return addr
}

func cluster(t *testing.T, cfg kafkaconn.Config) *kafkaconn.Cluster {
	t.Helper()
	c, err := kafkaconn.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip creates a topic, produces a record with a writer of c, reads
// it back with a consumer-group reader of c (the consumer's way) and with
// Read (the relay's and the tools' way), and checks Ends.
func roundTrip(t *testing.T, c *kafkaconn.Cluster, topic string) {
	t.Helper()
	ctx := testContext(t)
	if err := c.Check(ctx); err != nil {
		t.Fatalf("check: %v", err)
	}
	if err := c.EnsureTopics(ctx, kafka.TopicConfig{Topic: topic, NumPartitions: 2, ReplicationFactor: 1}); err != nil {
		t.Fatalf("ensure topics: %v", err)
	}
	// Twice: an existing topic is no error.
	if err := c.EnsureTopics(ctx, kafka.TopicConfig{Topic: topic, NumPartitions: 2, ReplicationFactor: 1}); err != nil {
		t.Fatalf("ensure topics again: %v", err)
	}
	w := c.Writer(topic)
	w.RequiredAcks = kafka.RequireAll
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("card_s"), Value: []byte("over TLS")}); err != nil {
		t.Fatalf("produce: %v", err)
	}

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.Brokers(), Dialer: c.Dialer(), GroupID: "g-" + topic, Topic: topic,
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("consume: %v", err)
	}
	if string(m.Key) != "card_s" || string(m.Value) != "over TLS" {
		t.Errorf("consumed %s=%s, want card_s=over TLS", m.Key, m.Value)
	}

	ends, err := c.Ends(ctx, topic)
	if err != nil {
		t.Fatalf("ends: %v", err)
	}
	if len(ends) != 2 || ends[m.Partition] != 1 {
		t.Errorf("ends %v, want partition %d at 1 of 2 partitions", ends, m.Partition)
	}
	parts, err := c.Partitions(ctx, topic)
	if err != nil || len(parts) != 2 {
		t.Fatalf("partitions: %v, %v", parts, err)
	}
	first, end, err := c.Offsets(ctx, parts[m.Partition])
	if err != nil || first != 0 || end != 1 {
		t.Fatalf("offsets: %d, %d, %v; want 0, 1", first, end, err)
	}
	var got []kafka.Message
	if err := c.Read(ctx, parts[m.Partition], first, end, func(b []kafka.Message) error {
		got = append(got, b...)
		return nil
	}); err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(got) != 1 || string(got[0].Value) != "over TLS" {
		t.Errorf("read %d records, want the one produced", len(got))
	}
}

func TestTLSAndSASLProduceAndConsume(t *testing.T) {
	pki := kafkatest.NewPKI(t)
	pass := kafkatest.WriteSecret(t, password+"\n")
	for _, mech := range []string{"plain", "scram-sha-256", "scram-sha-512"} {
		t.Run(mech, func(t *testing.T) {
			addr := secureBroker(t, pki, false, mech)
			c := cluster(t, kafkaconn.Config{Brokers: []string{addr},
				TLS:  kafkaconn.TLS{CAFile: pki.CAFile},
				SASL: kafkaconn.SASL{Mechanism: mech, Username: "scorer", PasswordFile: pass}})
			roundTrip(t, c, "secured")
		})
	}
}

func TestMutualTLS(t *testing.T) {
	pki := kafkatest.NewPKI(t)
	_, addr := kafkatest.BrokerWith(t, kfake.TLS(pki.ServerTLS(true)))
	t.Run("with the client certificate", func(t *testing.T) {
		c := cluster(t, kafkaconn.Config{Brokers: []string{addr},
			TLS: kafkaconn.TLS{CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile}})
		roundTrip(t, c, "mtls")
	})
	t.Run("without it the broker refuses", func(t *testing.T) {
		c := cluster(t, kafkaconn.Config{Brokers: []string{addr}, TLS: kafkaconn.TLS{CAFile: pki.CAFile}})
		err := c.Check(testContext(t))
		if err == nil || !strings.Contains(err.Error(), "TLS handshake failed") {
			t.Fatalf("check: %v, want a TLS handshake error", err)
		}
	})
	t.Run("a plaintext client is told the broker hung up", func(t *testing.T) {
		err := kafkaconn.Plain(addr).Check(testContext(t))
		if err == nil || !strings.Contains(err.Error(), "the broker hung up (tls=off sasl=off") {
			t.Fatalf("check: %v, want it to say the broker hung up on plaintext", err)
		}
	})
}

func TestServerName(t *testing.T) {
	// A certificate for a name, not for the address dialled: as when
	// brokers are reached through a tunnel or by IP.
	pki := kafkatest.NewPKI(t, "kafka.test")
	_, addr := kafkatest.BrokerWith(t, kfake.TLS(pki.ServerTLS(false)))
	t.Run("given, the certificate is accepted", func(t *testing.T) {
		c := cluster(t, kafkaconn.Config{Brokers: []string{addr}, TLS: kafkaconn.TLS{CAFile: pki.CAFile, ServerName: "kafka.test"}})
		roundTrip(t, c, "named")
	})
	t.Run("not given, the name mismatch is a TLS error", func(t *testing.T) {
		c := cluster(t, kafkaconn.Config{Brokers: []string{addr}, TLS: kafkaconn.TLS{CAFile: pki.CAFile}})
		err := c.Check(testContext(t))
		if err == nil || !strings.Contains(err.Error(), "TLS handshake failed") {
			t.Fatalf("check: %v, want a TLS handshake error", err)
		}
	})
}

func TestUnknownCAIsATLSError(t *testing.T) {
	pki, other := kafkatest.NewPKI(t), kafkatest.NewPKI(t)
	_, addr := kafkatest.BrokerWith(t, kfake.TLS(pki.ServerTLS(false)))
	c := cluster(t, kafkaconn.Config{Brokers: []string{addr}, TLS: kafkaconn.TLS{CAFile: other.CAFile}})
	err := c.Check(testContext(t))
	if err == nil || !strings.Contains(err.Error(), "TLS handshake failed") || !strings.Contains(err.Error(), addr) {
		t.Fatalf("check: %v, want a TLS handshake error naming %s", err, addr)
	}
}

func TestWrongPasswordFailsClearly(t *testing.T) {
	pki := kafkatest.NewPKI(t)
	wrong := kafkatest.WriteSecret(t, "not-"+password)
	for _, mech := range []string{"plain", "scram-sha-256", "scram-sha-512"} {
		t.Run(mech, func(t *testing.T) {
			addr := secureBroker(t, pki, false, mech)
			c := cluster(t, kafkaconn.Config{Brokers: []string{addr},
				TLS:  kafkaconn.TLS{CAFile: pki.CAFile},
				SASL: kafkaconn.SASL{Mechanism: mech, Username: "scorer", PasswordFile: wrong}})
			ctx := testContext(t)
			err := c.Check(ctx)
			if err == nil {
				t.Fatal("check passed with a wrong password")
			}
			for _, want := range []string{"SASL " + kfakeMechanism[mech] + " authentication as \"scorer\" failed", addr} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("check: %v\nwant it to say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("the error holds the password: %v", err)
			}
			// The other clients fail too, within their timeouts.
			if err := c.EnsureTopics(ctx, kafka.TopicConfig{Topic: "t", NumPartitions: 1, ReplicationFactor: 1}); err == nil {
				t.Error("topics created with a wrong password")
			}
			if _, err := c.Partitions(ctx, "t"); err == nil {
				t.Error("metadata read with a wrong password")
			}
		})
	}
}
