//go:build !linux

package serve

// notifier is inotify's, on Linux; elsewhere every watcher polls.
type notifier struct{ base string }

type notifySub struct{}

func (n *notifier) subscribe(string) *notifySub { return nil }
func (n *notifier) unsubscribe(*notifySub)      {}
func (n *notifier) close()                      {}
func (sub *notifySub) events() <-chan struct{}  { return nil }
func (sub *notifySub) notified() bool           { return false }
