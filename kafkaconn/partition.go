package kafkaconn

// PartitionOf returns the partition, of n, that a record keyed by key goes
// to from Writer: kafka-go's Hash balancer (FNV-1a 32 as a signed int32,
// modulo n, made positive; Sarama's default). Producers with another
// partitioner (the Java client's murmur2) place keys elsewhere. A card's
// transactions keyed by its card_id all land on
// PartitionOf(card_id, n), so an HTTP request for a card can be sent to
// the instance that owns that partition. n must be positive.
func PartitionOf(key string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	p := int32(h) % int32(n)
	if p < 0 {
		p = -p
	}
	return int(p)
}
