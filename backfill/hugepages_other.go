//go:build !linux

package backfill

func adviseHugePages(b []byte) {}
