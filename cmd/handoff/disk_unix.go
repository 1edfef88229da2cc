//go:build unix

package main

import (
	"context"
	"fmt"
	"syscall"
)

// minFreeDisk is the room below which a local data directory makes the node
// not ready: writes there would soon fail, and acknowledged work must not.
const minFreeDisk = 64 << 20

// diskRoom returns a readiness check that fails while any of dirs has less
// than minFreeDisk free for this process.
func diskRoom(dirs ...string) func(context.Context) error {
	return func(context.Context) error {
		for _, dir := range dirs {
			var st syscall.Statfs_t
			if err := syscall.Statfs(dir, &st); err != nil {
				return fmt.Errorf("disk of %s: %w", dir, err)
			}
			if free := uint64(st.Bavail) * uint64(st.Bsize); free < minFreeDisk {
				return fmt.Errorf("disk of %s: %d MiB free", dir, free>>20)
			}
		}
		return nil
	}
}
