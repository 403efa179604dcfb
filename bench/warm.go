package main

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// warmGuest touches the machine's free memory before anything is timed,
// because a virtual machine's host backs guest memory only when the guest
// first touches it: whatever runs first (dd's tmpfs file, say) would pay a
// host fault per page that its rival, running later in the same memory,
// does not, and the ratio would measure the host. It maps the available
// memory less a margin, in chunks, populates every chunk
// (MADV_POPULATE_WRITE) while holding all of them, so that each is a
// different guest page, and unmaps them.
//
// It cannot keep memory warm: a guest with free page reporting (a virtio
// balloon) hands freed blocks back to the host, and they are faulted in
// again on their next use. That is why the rounds take turns, and why
// docs/performance.md gives the noise it leaves.
func warmGuest() (string, error) {
	avail, err := memAvailable()
	if err != nil {
		return "", err
	}
	const chunk = 256 << 20
	const margin = 1 << 30
	start := time.Now()
	var held [][]byte
	defer func() {
		for _, b := range held {
			unix.Munmap(b)
		}
	}()
	total := int64(0)
	for total+chunk <= avail-margin {
		b, err := unix.Mmap(-1, 0, chunk, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
		if err != nil {
			return "", fmt.Errorf("warm guest memory: mmap: %w", err)
		}
		held = append(held, b)
		if err := unix.Madvise(b, unix.MADV_POPULATE_WRITE); err != nil {
			return "", fmt.Errorf("warm guest memory: madvise(MADV_POPULATE_WRITE): %w", err)
		}
		total += chunk
	}
	return fmt.Sprintf("touched %.1f GiB of free memory first, so that the host's first-touch faults are not charged to one side (%.1fs)",
		float64(total)/(1<<30), time.Since(start).Seconds()), nil
}
