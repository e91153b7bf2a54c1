//go:build !linux

package command

func becomeSubreaper() error { return nil }
