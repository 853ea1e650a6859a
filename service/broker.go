package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/fraudscore/scorer/kafkaconn"
)

// startKafka starts the embedded development broker when asked, and
// reads the connection settings of real brokers (TLS files, SASL
// password), refusing bad ones. The consumer and the relays attach to
// s.kafka.
func (s *Service) startKafka(ctx context.Context) error {
	secured := s.cfg.KafkaTLS.On() || s.cfg.KafkaSASL.On()
	switch b := strings.TrimSpace(s.cfg.KafkaBrokers); b {
	case "", "none", "off":
		s.log.Warn("kafka disabled: only the HTTP path runs")
		return nil
	case "embedded":
		if secured {
			return errors.New("--kafka-tls* and --kafka-sasl-* are for real brokers; the embedded broker speaks plaintext: drop them or pass --kafka-brokers host:port,...")
		}
		host, portStr, err := net.SplitHostPort(s.cfg.EmbeddedKafkaAddr)
		if err != nil {
			return fmt.Errorf("embedded kafka addr: %w", err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return fmt.Errorf("embedded kafka addr: bad port %q", portStr)
		}
		listen := func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}
		c, err := kfake.NewCluster(
			kfake.Ports(port),
			kfake.ListenFn(listen),
			kfake.DataDir(filepath.Join(s.cfg.DataDir, "kafka")),
			kfake.DefaultNumPartitions(4),
		)
		if err != nil {
			return fmt.Errorf("embedded kafka on %s: %w", s.cfg.EmbeddedKafkaAddr, err)
		}
		s.broker = c
		s.kafka = kafkaconn.Plain(c.ListenAddrs()...)
		s.log.Warn("EMBEDDED DEVELOPMENT KAFKA BROKER: single node, no replication, not for production; pass --kafka-brokers host:port,... for real brokers",
			"addr", strings.Join(c.ListenAddrs(), ","), "data_dir", filepath.Join(s.cfg.DataDir, "kafka"))
	default:
		k, err := kafkaconn.New(kafkaconn.Config{Brokers: strings.Split(b, ","), TLS: s.cfg.KafkaTLS, SASL: s.cfg.KafkaSASL})
		if err != nil {
			return err
		}
		s.kafka = k
		if s.cfg.KafkaSASL.On() && strings.EqualFold(s.cfg.KafkaSASL.Mechanism, "plain") && !s.cfg.KafkaTLS.On() {
			s.log.Warn("kafka SASL PLAIN without TLS sends the password in clear text; set --kafka-tls", "kafka", k)
		}
	}
	return nil
}
