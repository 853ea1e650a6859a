package velocity

// ClaimWaits reports how many attempts have waited on the claim of the
// transaction id in progress, 0 when none is: a test can wait for a
// concurrent duplicate to be waiting instead of sleeping.
func ClaimWaits(s *Store, id string) int {
	cs := s.claimShard(id)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c, ok := cs.m[id]; ok {
		return int(c.waits.Load())
	}
	return 0
}
