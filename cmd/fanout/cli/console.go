package cli

import (
	"io"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/term"
)

// console is stderr shared by messages, logs and one live status line:
// on a terminal the status line is redrawn in place (carriage return and
// erase to the end of the line) and cleared before any other output, so
// that messages never land in the middle of it. Not on a terminal there
// is no live line; status lines are printed as plain lines by their
// callers.
type console struct {
	mu   sync.Mutex
	w    io.Writer
	fd   int
	tty  bool
	live string
}

func newConsole(f *os.File) *console {
	fd := int(f.Fd())
	return &console{w: f, fd: fd, tty: term.IsTerminal(fd)}
}

// Write writes p (whole lines, as slog does) above the live line.
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearLocked()
	n, err := c.w.Write(p)
	c.drawLocked()
	return n, err
}

// println writes one message line above the live line.
func (c *console) println(msg string) {
	c.Write([]byte(msg + "\n"))
}

// status replaces the live line (on a terminal; elsewhere it does
// nothing).
func (c *console) status(line string) {
	if !c.tty {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live = c.fit(line)
	c.drawLocked()
}

// endStatus removes the live line.
func (c *console) endStatus() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearLocked()
	c.live = ""
}

func (c *console) clearLocked() {
	if c.tty && c.live != "" {
		io.WriteString(c.w, "\r\x1b[K")
	}
}

func (c *console) drawLocked() {
	if c.tty && c.live != "" {
		io.WriteString(c.w, "\r"+c.live+"\x1b[K")
	}
}

// fit cuts a line to the terminal's width: a line that wraps cannot be
// redrawn in place.
func (c *console) fit(line string) string {
	w, _, err := term.GetSize(c.fd)
	if err != nil || w <= 1 || utf8.RuneCountInString(line) < w {
		return line
	}
	r := []rune(line)
	return strings.TrimRight(string(r[:w-2]), " ") + "…"
}
