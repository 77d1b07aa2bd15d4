//go:build !linux

package persistence

const releaseSupported = false

func releasePages(addr, n uintptr) {}
