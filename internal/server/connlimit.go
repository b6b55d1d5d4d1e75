package server

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// connLimit caps the connections a listener serves at once (the setting
// server.max_connections). Each connection the server holds costs memory
// whatever it sends — its goroutine and stack, its read and write
// buffers, the request being read — so without a cap a flood of
// connections grows the process with their number until it runs out of
// memory. At the cap, a new connection waits in the kernel's listen
// backlog (where its memory is the kernel's socket buffers, not the
// process's) until one the server holds closes. A keep-alive connection
// idle for evictAfter or longer is closed to make room, the longest idle
// first (a client opens a new one, as after server.idle_timeout), so idle
// clients cannot hold the places while others wait. A connection idle for
// less is left alone: a client that just got its answer may be sending
// the next request on it, and closing it then would fail that request
// (RFC 9112 section 9.5 lets a server close an idle connection, but a
// client retries only idempotent requests). Connections reading a request
// are bounded in time by server.read_header_timeout and
// server.read_timeout.
//
// Hand-written: net/http has no such setting, and golang.org/x/net's
// LimitListener neither closes idle connections nor is otherwise a
// dependency of the project; the whole of it is a semaphore and this file.
type connLimit struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	close sync.Once

	mu   sync.Mutex
	idle map[net.Conn]time.Time // since when the server reported each idle
}

// evictAfter is how long a connection must have been idle before the cap
// closes it for a waiting one; evictPoll is how often a waiting Accept
// looks for one.
const (
	evictAfter = time.Second
	evictPoll  = 100 * time.Millisecond
)

func newConnLimit(ln net.Listener, max int) *connLimit {
	return &connLimit{Listener: ln, slots: make(chan struct{}, max), done: make(chan struct{}), idle: map[net.Conn]time.Time{}}
}

// Accept takes a place, waiting for one (and closing connections idle for
// evictAfter) when none is free, then accepts.
func (l *connLimit) Accept() (net.Conn, error) {
	if err := l.take(); err != nil {
		return nil, err
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, l: l}, nil
}

func (l *connLimit) take() error {
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	poll := time.NewTicker(evictPoll)
	defer poll.Stop()
	for {
		if victim := l.longestIdle(time.Now().Add(-evictAfter)); victim != nil {
			go victim.Close() // a TLS connection's Close may wait to send its alert
		}
		select {
		case l.slots <- struct{}{}:
			return nil
		case <-l.done:
			return net.ErrClosed
		case <-poll.C:
		}
	}
}

// Close closes the listener and wakes an Accept waiting for a place.
func (l *connLimit) Close() error {
	l.close.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// ConnState is the http.Server's hook by which the cap knows which
// connections are idle, and since when.
func (l *connLimit) ConnState(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if state == http.StateIdle {
		l.idle[c] = time.Now()
	} else {
		delete(l.idle, c)
	}
}

// longestIdle removes and returns the connection idle the longest if it
// has been idle since before, or nil.
func (l *connLimit) longestIdle(before time.Time) net.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	var oldest net.Conn
	since := before
	for c, t := range l.idle {
		if !t.After(since) {
			oldest, since = c, t
		}
	}
	if oldest != nil {
		delete(l.idle, oldest)
	}
	return oldest
}

// limitedConn gives its place back when closed, once.
type limitedConn struct {
	net.Conn
	l    *connLimit
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { <-c.l.slots })
	return err
}
