package server_test

import (
	"net"
	"sync"
	"testing"
	"time"
)

// pgProxy is a TCP proxy between an instance and PostgreSQL that can pass
// traffic, refuse connections (its port closed) or blackhole them (accepted
// and open, nothing forwarded either way): the outages an instance must
// survive.
type pgProxy struct {
	t        *testing.T
	upstream string
	addr     string
	mu       sync.Mutex
	ln       net.Listener
	mode     string // pass, refuse, blackhole
	conns    map[net.Conn]net.Conn
	resume   chan struct{}
	wg       sync.WaitGroup
}

func newPGProxy(t *testing.T, upstream string) *pgProxy {
	p := &pgProxy{t: t, upstream: upstream, mode: "pass", conns: map[net.Conn]net.Conn{}, resume: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.close)
	return p
}

func (p *pgProxy) serve(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.handle(c)
		}
	}()
}

func (p *pgProxy) handle(c net.Conn) {
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.mode == "refuse" {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c] = up
	p.mu.Unlock()
	pump := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			for {
				p.mu.Lock()
				mode, resume := p.mode, p.resume
				p.mu.Unlock()
				if mode != "blackhole" {
					break
				}
				<-resume
			}
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		c.Close()
		up.Close()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}
	go pump(up, c)
	go pump(c, up)
}

// upstreamPorts are the local ports of the proxy's connections to
// PostgreSQL (pg_stat_activity.client_port of the instance's sessions).
func (p *pgProxy) upstreamPorts() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for _, up := range p.conns {
		out = append(out, up.LocalAddr().(*net.TCPAddr).Port)
	}
	return out
}

// setMode switches between pass, refuse and blackhole.
func (p *pgProxy) setMode(mode string) {
	p.mu.Lock()
	old := p.mode
	p.mode = mode
	if old == "blackhole" {
		close(p.resume)
		p.resume = make(chan struct{})
	}
	var ln net.Listener
	if mode == "refuse" && old != "refuse" {
		ln, p.ln = p.ln, nil
		for c, up := range p.conns {
			c.Close()
			up.Close()
		}
	}
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	if old == "refuse" && mode != "refuse" {
		var nl net.Listener
		var err error
		for i := 0; i < 100; i++ { // the port was ours a moment ago
			if nl, err = net.Listen("tcp", p.addr); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			p.t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
		}
		p.mu.Lock()
		p.serve(nl)
		p.mu.Unlock()
	}
}

func (p *pgProxy) close() {
	p.setMode("pass")
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	for c, up := range p.conns {
		c.Close()
		up.Close()
	}
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	p.wg.Wait()
}
