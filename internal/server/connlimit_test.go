package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// hello answers every request with "hello".
var hello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello") })

// roundTrip sends a GET on conn and reads its answer's status line;
// within bounds the wait.
func roundTrip(t *testing.T, conn net.Conn, within time.Duration) (string, error) {
	t.Helper()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"); err != nil {
		return "", err
	}
	_ = conn.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.Status + " " + string(body), err
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// At the cap, a connection whose request is being read keeps its place:
// a new client waits (in the listen backlog) until one closes, then is
// served.
func TestConnectionsBeyondTheCapWaitForAPlace(t *testing.T) {
	limits := Limits{ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute, MaxConnections: 2}
	addr := serveForTest(t, hello, limits)
	var holding []net.Conn
	for range 2 {
		c := dial(t, addr)
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.test\r\n"); err != nil { // headers not finished
			t.Fatal(err)
		}
		holding = append(holding, c)
	}
	time.Sleep(100 * time.Millisecond) // both accepted
	third := dial(t, addr)
	if status, err := roundTrip(t, third, 3*evictAfter/2); err == nil {
		t.Fatalf("a third connection was served beyond the cap of 2: %s", status)
	}
	// The read above timed out with the request sent; closing a held
	// connection gives its place to the third, which is then answered.
	holding[0].Close()
	_ = third.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(third), nil)
	if err != nil {
		t.Fatalf("the waiting connection was not served after a place freed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// At the cap, keep-alive connections idle for evictAfter are closed to
// make room, the longest idle first; one idle for less is not.
func TestIdleConnectionsMakeRoomAtTheCap(t *testing.T) {
	limits := Limits{ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute, MaxConnections: 2}
	addr := serveForTest(t, hello, limits)
	older, newer := dial(t, addr), dial(t, addr)
	began := time.Now() // before either turned idle
	for _, c := range []net.Conn{older, newer} {
		if status, err := roundTrip(t, c, 5*time.Second); err != nil || !strings.HasPrefix(status, "200") {
			t.Fatalf("first request: %q, %v", status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	third := dial(t, addr)
	status, err := roundTrip(t, third, 5*time.Second)
	if err != nil || status != "200 OK hello" {
		t.Fatalf("the third connection was not served once an idle one made room: %q, %v", status, err)
	}
	if waited := time.Since(began); waited < evictAfter {
		t.Errorf("an idle connection was closed after %s, before being idle for %s", waited, evictAfter)
	}
	// The older idle connection was closed; the newer one still serves.
	_ = older.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := older.Read(make([]byte, 1)); err == nil {
		t.Fatalf("the longest idle connection is still open (read %d bytes)", n)
	}
	if status, err := roundTrip(t, newer, 5*time.Second); err != nil || status != "200 OK hello" {
		t.Fatalf("the newer idle connection was closed too: %q, %v", status, err)
	}
}

// Closing the listener wakes an Accept waiting for a place at the cap: it
// returns net.ErrClosed at once instead of waiting for a connection to
// close (a shutdown whose connections outlive it would leave it blocked).
func TestCloseWakesAcceptWaitingAtTheCap(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newConnLimit(ln, 1)
	dial(t, ln.Addr().String())
	held, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close() // holds the one place throughout
	accepted := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		accepted <- err
	}()
	time.Sleep(100 * time.Millisecond) // waiting for a place
	l.Close()
	select {
	case err := <-accepted:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Accept still waits for a place after the listener was closed")
	}
}
