// Package zktest helps test code that uses ZooKeeper: a TCP proxy that can
// partition its clients from the server, so that one client's session
// expires while the others carry on.
package zktest

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections from a loopback port to a ZooKeeper
// server. [Proxy.Partition] stops all traffic while keeping the sockets
// open — the client sees silence, as behind a network partition, and the
// server expires its session after the session timeout; [Proxy.Heal]
// closes the stalled connections and lets new ones through.
type Proxy struct {
	target string
	ln     net.Listener

	mu          sync.Mutex
	partitioned bool
	healed      chan struct{} // closed on Heal; replaced on Partition
	conns       map[net.Conn]struct{}
	closed      bool
	wg          sync.WaitGroup
}

// NewProxy starts a proxy to target ("host:port"); it is closed in
// t.Cleanup.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{target: target, ln: ln, healed: make(chan struct{}), conns: make(map[net.Conn]struct{})}
	close(p.healed)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Partition stops forwarding: bytes in flight stay unsent and new
// connections are accepted but not connected to the server.
func (p *Proxy) Partition() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.partitioned {
		p.partitioned = true
		p.healed = make(chan struct{})
	}
}

// Heal ends a partition: the connections that stalled are closed (both
// sides then see them fail) and new ones are forwarded again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	if !p.partitioned {
		p.mu.Unlock()
		return
	}
	p.partitioned = false
	close(p.healed)
	conns := p.conns
	p.conns = make(map[net.Conn]struct{})
	p.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

// Cut closes every open connection (a connection loss without a
// partition: clients reconnect through the proxy at once).
func (p *Proxy) Cut() {
	p.mu.Lock()
	conns := p.conns
	p.conns = make(map[net.Conn]struct{})
	p.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	if p.partitioned {
		p.partitioned = false
		close(p.healed)
	}
	p.mu.Unlock()
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer client.Close()
	// A connection made during a partition waits for it to end, then is
	// dropped with the other stalled ones.
	p.mu.Lock()
	healed, partitioned := p.healed, p.partitioned
	p.mu.Unlock()
	if partitioned {
		<-healed
		return
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	if !p.track(server) {
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(server, client) }()
	go func() { defer wg.Done(); p.pipe(client, server) }()
	wg.Wait()
}

// pipe copies src to dst, holding each chunk while partitioned.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			healed, partitioned := p.healed, p.partitioned
			p.mu.Unlock()
			if partitioned {
				<-healed
				return // Heal closes stalled connections
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
