//go:build linux

// Package ioswitchboard is Mesos's IO switchboard for the containers that
// need one (src/slave/containerizer/mesos/io/switchboard.cpp): a container
// with a tty (ContainerInfo.tty_info) or of the DEBUG class (a
// LAUNCH_NESTED_CONTAINER_SESSION). The switchboard holds the agent's ends
// of the container's stdin, stdout and stderr — pipes, or one pseudo
// terminal whose slave is the container's controlling terminal — and
//
//   - copies everything the container writes to its log files (the
//     sandbox's stdout and stderr, as without a switchboard; with a tty all
//     of it is stdout) and to every attached output client
//     (ATTACH_CONTAINER_OUTPUT); output written before a client attaches
//     is only in the log, except that a switchboard that waits for a
//     connection (Mesos's --wait_for_connection, set for DEBUG containers)
//     reads nothing before its first client;
//   - takes the input of one client at a time (ATTACH_CONTAINER_INPUT,
//     Mesos's 409 "Multiple input connections are not allowed" otherwise):
//     data for stdin, an empty data record closing stdin (without a tty; a
//     tty's client sends EOT instead), and window size changes for the tty.
//
// Mesos runs the switchboard as a server process per container; meso runs
// it inside the agent, so a container's switchboard does not outlive the
// agent (meso does not recover nested containers across agent restarts).
//
// Shape: one goroutine per output stream reads and hands chunks to the
// fan goroutine, which owns the list of clients and the log files (no
// locks); the input side is a one-slot semaphore.
package ioswitchboard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Errors.
var (
	// ErrInputConnected is Mesos's "Multiple input connections are not
	// allowed" (a 409 on the agent API).
	ErrInputConnected = errors.New("Multiple input connections are not allowed")
	// ErrClosed is returned once the switchboard is closed.
	ErrClosed = errors.New("I/O switchboard has shutdown")
	// ErrNoTTY is returned for a window size change without a tty.
	ErrNoTTY = errors.New("the container has no tty")
)

// Stream names an output stream.
type Stream int

// The output streams (the values of agent.ProcessIO.Data.Type).
const (
	Stdout Stream = 2
	Stderr Stream = 3
)

// Output is a chunk the container wrote.
type Output struct {
	Stream Stream
	Data   []byte
}

// WindowSize is a tty's size.
type WindowSize struct{ Rows, Columns uint16 }

// Config describes a container's switchboard.
type Config struct {
	// TTY gives the container a pseudo terminal for stdin, stdout and
	// stderr; WindowSize, when set, is its initial size.
	TTY        bool
	WindowSize *WindowSize
	// Owner, when set, owns the terminal's slave end (the container's user).
	Owner *Owner
	// StdoutLog and StderrLog are files the output is appended to (created
	// when missing); empty: none.
	StdoutLog, StderrLog string
	// WaitForConnection: read nothing of the container's output until the
	// first output client attaches (Mesos's DEBUG containers), so that a
	// session loses none of it.
	WaitForConnection bool
}

// Owner is a uid and gid.
type Owner struct{ UID, GID int }

// Switchboard is one container's IO switchboard. Its methods are safe for
// concurrent use.
type Switchboard struct {
	tty   bool
	child [3]*os.File // the container's ends, until Started
	stdin *os.File    // the agent's end of stdin (the pty master with a tty)
	outs  []*os.File  // the agent's ends of stdout and stderr (one master with a tty)
	logs  [2]*os.File // stdout, stderr logs (nil: none)

	subscribe chan subscriber
	out       chan Output
	start     chan struct{} // closed when the readers may start
	startOnce sync.Once
	started   chan struct{} // closed by Started
	stop      chan struct{}
	stopOnce  sync.Once
	done      chan struct{} // closed once the output ended
	fanDone   chan struct{}
	readers   sync.WaitGroup

	input      chan struct{} // one slot: an input client is connected
	stdinClose sync.Once
}

type subscriber struct {
	ctx context.Context
	ch  chan Output
}

// New makes the switchboard's pipes or terminal and opens the logs. The
// caller passes Stdio to the container's first process, then calls
// Started; Close releases everything.
func New(cfg Config) (_ *Switchboard, err error) {
	s := &Switchboard{
		tty:       cfg.TTY,
		subscribe: make(chan subscriber),
		out:       make(chan Output),
		start:     make(chan struct{}),
		started:   make(chan struct{}),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		fanDone:   make(chan struct{}),
		input:     make(chan struct{}, 1),
	}
	defer func() {
		if err != nil {
			s.closeFiles()
		}
	}()
	for i, p := range []string{cfg.StdoutLog, cfg.StderrLog} {
		if p == "" {
			continue
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("opening the container's log: %w", err)
		}
		s.logs[i] = f
	}
	if cfg.TTY {
		master, slave, err := openPTY(cfg.Owner)
		if err != nil {
			return nil, err
		}
		s.stdin, s.outs = master, []*os.File{master}
		s.child = [3]*os.File{slave, slave, slave}
		if ws := cfg.WindowSize; ws != nil {
			if err := setWindowSize(master, *ws); err != nil {
				return nil, err
			}
		}
	} else {
		inR, inW, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("Failed to create stdin pipe: %w", err)
		}
		s.stdin, s.child[0] = inW, inR
		outR, outW, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("Failed to create stdout pipe: %w", err)
		}
		s.child[1] = outW
		s.outs = append(s.outs, outR)
		errR, errW, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("Failed to create stderr pipe: %w", err)
		}
		s.child[2] = errW
		s.outs = append(s.outs, errR)
	}
	if !cfg.WaitForConnection {
		s.startOnce.Do(func() { close(s.start) })
	}
	go s.fan()
	for i, f := range s.outs {
		s.readers.Add(1)
		go s.read(f, Stream(int(Stdout)+i))
	}
	go func() {
		s.readers.Wait()
		close(s.out)
	}()
	return s, nil
}

// openPTY opens a pseudo terminal: the master, non-blocking for the
// runtime's poller (so that Close interrupts a read), and the slave.
func openPTY(owner *Owner) (master, slave *os.File, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("Failed to open a master pseudo terminal: %w", err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("Failed to unlock the slave pseudo terminal: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("Failed to get the slave pseudo terminal path: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	name := fmt.Sprintf("/dev/pts/%d", n)
	if owner != nil {
		if err := os.Chown(name, owner.UID, owner.GID); err != nil {
			master.Close()
			return nil, nil, fmt.Errorf("Failed to chown the slave pseudo terminal: %w", err)
		}
	}
	slave, err = os.OpenFile(name, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("Failed to open the slave pseudo terminal: %w", err)
	}
	return master, slave, nil
}

func setWindowSize(f *os.File, ws WindowSize) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	if err := rc.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: ws.Rows, Col: ws.Columns})
	}); err != nil {
		return err
	}
	if ioErr != nil {
		return fmt.Errorf("Unable to set the window size: %w", ioErr)
	}
	return nil
}

// TTY reports whether the container has a terminal.
func (s *Switchboard) TTY() bool { return s.tty }

// Stdio are the container's stdin, stdout and stderr (the same terminal
// three times with a tty), to be given to its first process.
func (s *Switchboard) Stdio() [3]*os.File { return s.child }

// Started closes the switchboard's copies of the container's ends, once
// the container's first process holds them: the output then ends when
// the container's last process closes them.
func (s *Switchboard) Started() {
	select {
	case <-s.started:
		return
	default:
	}
	close(s.started)
	closed := map[*os.File]bool{}
	for _, f := range s.child {
		if f != nil && !closed[f] {
			closed[f] = true
			f.Close()
		}
	}
}

// read copies one stream to the fan until it ends.
func (s *Switchboard) read(f *os.File, stream Stream) {
	defer s.readers.Done()
	select {
	case <-s.start:
	case <-s.stop:
		return
	}
	buf := make([]byte, 32*1024)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			chunk := Output{Stream: stream, Data: append([]byte(nil), buf[:n]...)}
			select {
			case s.out <- chunk:
			case <-s.stop:
				return
			}
		}
		if err != nil {
			// EOF on a pipe; EIO on a terminal whose slave is closed by
			// every process; os.ErrClosed once the switchboard closed.
			return
		}
	}
}

// fan owns the clients and the logs: every chunk goes to the log of its
// stream and to every client, in order.
func (s *Switchboard) fan() {
	defer close(s.fanDone)
	var subs []subscriber
	out := s.out
	for {
		select {
		case sub := <-s.subscribe:
			if out == nil {
				close(sub.ch)
				continue
			}
			subs = append(subs, sub)
			s.startOnce.Do(func() { close(s.start) })
		case o, ok := <-out:
			if !ok {
				out = nil
				for _, sub := range subs {
					close(sub.ch)
				}
				subs = nil
				close(s.done)
				continue
			}
			if log := s.logs[o.Stream-Stdout]; log != nil {
				_, _ = log.Write(o.Data)
			}
			kept := subs[:0]
			for _, sub := range subs {
				select {
				case sub.ch <- o:
					kept = append(kept, sub)
				case <-sub.ctx.Done():
					close(sub.ch)
				case <-s.stop:
					kept = append(kept, sub)
				}
			}
			subs = kept
		case <-s.stop:
			for _, sub := range subs {
				close(sub.ch)
			}
			return
		}
	}
}

// Output attaches an output client: the channel carries what the
// container writes from now on and is closed when the output ended (every
// process of the container closed it), ctx ended or the switchboard
// closed. The first client starts a switchboard that waits for one.
func (s *Switchboard) Output(ctx context.Context) (<-chan Output, error) {
	ch := make(chan Output, 16)
	select {
	case s.subscribe <- subscriber{ctx: ctx, ch: ch}:
		return ch, nil
	case <-s.stop:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Done is closed once the container's output has ended.
func (s *Switchboard) Done() <-chan struct{} { return s.done }

// Input is the connected input client.
type Input struct {
	s    *Switchboard
	once sync.Once
}

// Input connects the input client; ErrInputConnected while another is.
func (s *Switchboard) Input() (*Input, error) {
	select {
	case <-s.stop:
		return nil, ErrClosed
	default:
	}
	select {
	case s.input <- struct{}{}:
		return &Input{s: s}, nil
	default:
		return nil, ErrInputConnected
	}
}

// Write writes data to the container's stdin. Empty data closes stdin
// (EOF) when there is no tty, and is nothing with one.
func (in *Input) Write(data []byte) error {
	s := in.s
	if len(data) == 0 {
		if !s.tty {
			s.stdinClose.Do(func() { s.stdin.Close() })
		}
		return nil
	}
	if _, err := s.stdin.Write(data); err != nil {
		return fmt.Errorf("Failed writing to stdin: %w", err)
	}
	return nil
}

// Resize sets the tty's window size.
func (in *Input) Resize(ws WindowSize) error {
	if !in.s.tty {
		return ErrNoTTY
	}
	return setWindowSize(in.s.stdin, ws)
}

// Close disconnects the input client; another may connect.
func (in *Input) Close() {
	in.once.Do(func() { <-in.s.input })
}

// Close stops the switchboard: clients' channels are closed and every
// file is released. It is idempotent.
func (s *Switchboard) Close() error {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.Started()
		s.closeFiles()
		<-s.fanDone
		s.readers.Wait()
	})
	return nil
}

func (s *Switchboard) closeFiles() {
	seen := map[*os.File]bool{}
	closeOnce := func(f *os.File) {
		if f != nil && !seen[f] {
			seen[f] = true
			f.Close()
		}
	}
	if s.tty {
		for _, f := range s.outs {
			closeOnce(f)
		}
	} else {
		s.stdinClose.Do(func() {
			if s.stdin != nil {
				s.stdin.Close()
			}
		})
		for _, f := range s.outs {
			closeOnce(f)
		}
	}
	for _, f := range s.logs {
		closeOnce(f)
	}
	select {
	case <-s.started:
	default:
		for _, f := range s.child {
			closeOnce(f)
		}
	}
}

var _ io.Closer = (*Switchboard)(nil)
