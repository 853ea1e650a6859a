package kafkaconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// DialTimeout bounds a connection's set-up: TCP, the TLS handshake and the
// SASL exchange together.
const DialTimeout = 10 * time.Second

// Cluster is a Kafka cluster as this process reaches it: the brokers and
// the TLS and SASL settings, read and checked once, from which each client
// is built. It is safe for concurrent use. Close releases the connections
// of its admin requests; the clients it built are each closed by their
// owner.
type Cluster struct {
	cfg     Config
	brokers []string
	tls     *tls.Config
	sasl    sasl.Mechanism

	once  sync.Once
	admin *kafka.Transport // metadata and offsets: one pool for them all
}

// New checks c, reads its files (CA, client certificate and key, SASL
// password) and returns the Cluster. An error names the flag at fault:
// no brokers, a file missing or unreadable, a CA file without
// certificates, a certificate without its key, an unknown SASL mechanism,
// a mechanism without user or password file, an empty password file. It
// does not connect: a broker that is down or refuses the credentials
// shows in the first request (see Check).
func New(c Config) (*Cluster, error) {
	brokers := make([]string, 0, len(c.Brokers))
	for _, b := range c.Brokers {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	if len(brokers) == 0 {
		return nil, errors.New("kafka: no brokers")
	}
	tc, err := c.TLS.config()
	if err != nil {
		return nil, fmt.Errorf("kafka tls: %w", err)
	}
	m, err := c.SASL.mechanism()
	if err != nil {
		return nil, fmt.Errorf("kafka sasl: %w", err)
	}
	c.Brokers = brokers
	return &Cluster{cfg: c, brokers: brokers, tls: tc, sasl: m}, nil
}

// Plain returns the Cluster of brokers reached without TLS or SASL, as the
// embedded development broker and tests are.
func Plain(brokers ...string) *Cluster {
	return &Cluster{cfg: Config{Brokers: brokers}, brokers: brokers}
}

// Brokers are the bootstrap addresses.
func (c *Cluster) Brokers() []string { return c.brokers }

// Addr is the bootstrap addresses, for kafka.Writer.Addr and
// kafka.Client.Addr.
func (c *Cluster) Addr() net.Addr { return kafka.TCP(c.brokers...) }

// Dialer returns a new dialer with the cluster's TLS and SASL, for
// kafka.ReaderConfig.Dialer (consumer groups included) and for direct
// connections (kafka.Conn).
func (c *Cluster) Dialer() *kafka.Dialer {
	return &kafka.Dialer{Timeout: DialTimeout, DualStack: true, TLS: c.tls, SASLMechanism: c.sasl}
}

// Transport returns a new transport with the cluster's TLS and SASL, for
// kafka.Writer.Transport and kafka.Client.Transport. Each client gets its
// own: a kafka.Writer closes its transport's connections when it closes.
func (c *Cluster) Transport() *kafka.Transport {
	return &kafka.Transport{
		Dial:        (&net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		DialTimeout: DialTimeout,
		TLS:         c.tls,
		SASL:        c.sasl,
	}
}

// Writer returns a writer to topic with the cluster's connection settings
// and the options every writer here shares: records spread by key (the
// card_id, so a card keeps its partition) and a linger of a millisecond,
// not kafka-go's second. The caller sets acks, batching and timeouts, and
// closes it.
func (c *Cluster) Writer(topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         c.Addr(),
		Transport:    c.Transport(),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		BatchTimeout: time.Millisecond,
	}
}

// client is for the admin requests: one transport for the Cluster's life.
func (c *Cluster) client(timeout time.Duration) *kafka.Client {
	c.once.Do(func() { c.admin = c.Transport() })
	return &kafka.Client{Addr: c.Addr(), Transport: c.admin, Timeout: timeout}
}

// Close releases the connections of the admin requests. The Cluster may
// still be used after: they are opened again on demand.
func (c *Cluster) Close() error {
	c.once.Do(func() {})
	if c.admin != nil {
		c.admin.CloseIdleConnections()
	}
	return nil
}

// Check connects to the first broker that answers, with TLS and SASL,
// asks it for its API versions, and disconnects. Its error says what
// failed: no broker reachable, the TLS handshake (an unknown CA, a name
// mismatch), or the SASL authentication (wrong credentials, a mechanism
// the broker does not offer).
func (c *Cluster) Check(ctx context.Context) error {
	var errs []error
	d := c.Dialer()
	for _, b := range c.brokers {
		conn, err := d.DialContext(ctx, "tcp", b)
		if err == nil {
			// A request, because with TLS 1.3 a broker that wants a
			// client certificate refuses it only after the handshake.
			if dl, ok := ctx.Deadline(); ok {
				conn.SetDeadline(dl)
			}
			_, err = conn.ApiVersions()
			conn.Close()
			if err == nil {
				return nil
			}
		}
		errs = append(errs, c.explain(b, err))
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// explain names the step of a broker connection that failed, and what
// usually causes it.
func (c *Cluster) explain(broker string, err error) error {
	var (
		cv  *tls.CertificateVerificationError
		rec tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &cv), errors.As(err, &rec), strings.Contains(err.Error(), "tls: "):
		return fmt.Errorf("kafka %s: TLS handshake failed (%s): %w", broker, c.cfg.TLS, err)
	case c.sasl != nil && strings.Contains(err.Error(), "SASL"):
		// kafka-go wraps every failure of the exchange so.
		return fmt.Errorf("kafka %s: SASL %s authentication as %q failed (wrong user or password, or a mechanism the broker does not offer): %w",
			broker, c.sasl.Name(), c.cfg.SASL.Username, err)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("kafka %s: the broker hung up (%s %s: does it want others?): %w", broker, c.cfg.TLS, c.cfg.SASL, err)
	case c.tls != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)):
		return fmt.Errorf("kafka %s: no answer (a plaintext listener does not answer a TLS handshake): %w", broker, err)
	}
	return fmt.Errorf("kafka %s: %w", broker, err)
}

// String describes the cluster without secrets.
func (c *Cluster) String() string { return c.cfg.String() }

// GoString is String: a Cluster holds the password, and %#v must not
// print it.
func (c *Cluster) GoString() string { return "kafkaconn.Cluster{" + c.cfg.String() + "}" }

// LogValue is the cluster for slog, without secrets.
func (c *Cluster) LogValue() slog.Value { return c.cfg.LogValue() }
