package main

import (
	"errors"
	"flag"

	"github.com/fraudscore/scorer/kafkaconn"
)

// kafkaFlags registers the flags of a secured connection to the brokers,
// the same on every subcommand that talks to Kafka, into t and s. Like
// every flag, each is also SCORER_<FLAG>. The password is only ever read
// from a file: a flag value shows in ps and in shell history.
func kafkaFlags(fs *flag.FlagSet, t *kafkaconn.TLS, s *kafkaconn.SASL) {
	fs.BoolVar(&t.Enabled, "kafka-tls", false, "connect to the brokers with TLS (on when any --kafka-tls-* flag is given)")
	fs.StringVar(&t.CAFile, "kafka-tls-ca-file", "", "PEM file of the CA certificates that sign the brokers' (default: the system's)")
	fs.StringVar(&t.CertFile, "kafka-tls-cert-file", "", "PEM client certificate, for brokers that want one (with --kafka-tls-key-file)")
	fs.StringVar(&t.KeyFile, "kafka-tls-key-file", "", "PEM key of --kafka-tls-cert-file")
	fs.StringVar(&t.ServerName, "kafka-tls-server-name", "", "name the brokers' certificates must carry (default: each broker's host)")
	fs.StringVar(&s.Mechanism, "kafka-sasl-mechanism", "", "SASL mechanism: plain, scram-sha-256 or scram-sha-512 (default: no SASL)")
	fs.StringVar(&s.Username, "kafka-sasl-username", "", "SASL user name")
	fs.StringVar(&s.PasswordFile, "kafka-sasl-password-file", "", "file holding the SASL password (a line break at its end is dropped)")
}

// kafkaCluster reads the connection settings given by kafkaFlags for
// brokers (the --brokers flag); its error names the flag at fault.
func kafkaCluster(brokers string, t kafkaconn.TLS, s kafkaconn.SASL) (*kafkaconn.Cluster, error) {
	if len(splitList(brokers)) == 0 {
		return nil, errors.New("--brokers is empty")
	}
	return kafkaconn.New(kafkaconn.Config{Brokers: splitList(brokers), TLS: t, SASL: s})
}
