//go:build !linux

package hide

// Handoff needs /proc/self/exe; elsewhere it does nothing.
func Handoff() error { return nil }

func isPipe(int) bool { return false }

// Harden is Linux-only.
func Harden() error { return nil }
