package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fraudscore/scorer/fraud"
)

// FastHTTPTarget posts each transaction to POST /score like HTTPTarget,
// with the same outcomes, for a fraction of the CPU: the load tool must
// offer several times the service's capacity from one core, and net/http's
// client spent most of it on its own machinery (two goroutines and their
// channels per connection, a dozen allocations per request, header maps).
//
// It speaks the HTTP/1.1 the load test needs and nothing more: plain http
// (no TLS, no proxy), one request in flight per connection and no
// pipelining. Each Send takes a connection of its own: an idle one, or one
// it dials (lazily, TCP_NODELAY, kept alive; at most maxDialing dials at a
// time, so that a Send waiting for a dial slot takes the first connection
// another puts back), and so at most one per concurrent Send; MaxInFlight
// idle ones are kept. It writes the request from the connection's buffers:
// the JSON body without reflection (appendTransaction) and the headers
// around it, in one write. The answer is read from the connection's
// bufio.Reader: the status line, the Content-Length, Transfer-Encoding
// (chunked) and Connection headers, and at most 1 MiB of body, in which a
// 200's decision is found by a scan for "decision" rather than a JSON
// decode. The client timeout is a deadline on the connection.
//
// A connection is closed after an answer with Connection: close (or an
// HTTP/1.0 answer without keep-alive), one read until EOF, a body over the
// limit, a timeout or any error, and the next Send takes another. A
// request that fails on a reused connection before any byte of the answer
// arrived (the server closed it while it was idle) is sent once more on a
// new connection, as net/http does for requests that can be replayed: a
// transaction_id makes a POST /score idempotent.
type FastHTTPTarget struct {
	cfg    HTTPConfig
	url    string // for error messages, as net/http words them
	addr   string // host:port to dial
	prefix []byte // request line and the headers that never change
	dialer net.Dialer

	idle    chan *fastConn // connections between two requests
	dialing chan struct{}  // a slot per dial in progress
	closed  atomic.Bool
}

var _ Target = (*FastHTTPTarget)(nil)

// maxBody is how much of an answer is read, as HTTPTarget reads it.
const maxBody = 1 << 20

// maxDialing bounds the dials in progress. A Send that finds no idle
// connection dials a new one if it can, or else takes the first that
// another Send puts back. Without the bound, the start of a run at 20,000/s
// dialled one connection per request for its first few hundred
// milliseconds, which cost more than the requests, made every later one
// late, and so dialled again: thousands of drops and a p99 of 250ms in
// the first second, where with it most runs had none.
const maxDialing = 16

// maxHeaderBytes bounds the status line and headers of one answer.
const maxHeaderBytes = 64 << 10

// NewFastHTTPTarget returns a fast client for cfg.BaseURL, which must be a
// plain http URL. Nothing is dialled before the first Send.
func NewFastHTTPTarget(cfg HTTPConfig) (*FastHTTPTarget, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", cfg.BaseURL, err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("target %q: the fast client speaks plain http only (http://host:port); use HTTPTarget (scorer loadtest --client std) for https", cfg.BaseURL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("target %q: give only a scheme, host, port and path prefix", cfg.BaseURL)
	}
	if strings.ContainsFunc(cfg.Token, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return nil, errors.New("token: must not hold control characters")
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	path := u.EscapedPath() + "/score"
	var p []byte
	p = append(p, "POST "+path+" HTTP/1.1\r\nHost: "+u.Host+"\r\nUser-Agent: scorer-loadtest\r\nContent-Type: application/json\r\n"...)
	if cfg.Token != "" {
		p = append(p, "Authorization: Bearer "+cfg.Token+"\r\n"...)
	}
	if cfg.TimeoutMs > 0 {
		p = append(p, "X-Timeout-Ms: "+strconv.Itoa(cfg.TimeoutMs)+"\r\n"...)
	}
	p = append(p, "Content-Length: "...)
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	return &FastHTTPTarget{
		cfg:     cfg,
		url:     u.Scheme + "://" + u.Host + path,
		addr:    net.JoinHostPort(u.Hostname(), port),
		prefix:  p,
		dialer:  net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second},
		idle:    make(chan *fastConn, cfg.MaxInFlight),
		dialing: make(chan struct{}, maxDialing),
	}, nil
}

// Close closes the idle connections; a Send still running closes its own
// when it ends.
func (t *FastHTTPTarget) Close() {
	t.closed.Store(true)
	t.drain()
}

func (t *FastHTTPTarget) drain() {
	for {
		select {
		case c := <-t.idle:
			c.close()
		default:
			return
		}
	}
}

// get returns an idle connection, or a new one.
func (t *FastHTTPTarget) get(ctx context.Context, deadline time.Time) (*fastConn, error) {
	select {
	case c := <-t.idle:
		return c, nil
	default:
	}
	return t.dialOrTake(ctx, nil, deadline, t.idle)
}

// dialOrTake connects c (a new connection when c is nil) when a dial slot
// is free or, when idle is not nil, takes an idle connection instead if
// one comes first.
func (t *FastHTTPTarget) dialOrTake(ctx context.Context, c *fastConn, deadline time.Time, idle <-chan *fastConn) (*fastConn, error) {
	select {
	case t.dialing <- struct{}{}:
	default:
		timer := time.NewTimer(time.Until(deadline))
		defer timer.Stop()
		select {
		case got := <-idle:
			return got, nil
		case t.dialing <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, fmt.Errorf("timeout (%s) awaiting a connection", t.cfg.Timeout)
		}
	}
	if c == nil {
		c = &fastConn{}
	}
	err := t.dial(ctx, c, deadline)
	<-t.dialing
	if err != nil {
		return nil, err
	}
	return c, nil
}

// put keeps c for another request if it is still connected, in step, and
// the pool has room.
func (t *FastHTTPTarget) put(c *fastConn) {
	if c.nc == nil {
		return
	}
	if c.br.Buffered() > 0 {
		c.close() // bytes nobody asked for: the connection is out of step
		return
	}
	select {
	case t.idle <- c:
	default:
		c.close()
		return
	}
	if t.closed.Load() {
		t.drain() // Close ran meanwhile: c must not stay open
	}
}

// Send posts ev.Tx and reads the decision of a 200 answer.
func (t *FastHTTPTarget) Send(ctx context.Context, ev *Event) Outcome {
	if err := ctx.Err(); err != nil {
		return t.fail(err)
	}
	deadline := time.Now().Add(t.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c, err := t.get(ctx, deadline)
	if err != nil {
		return t.fail(t.wrap(ctx, err, false, false))
	}
	defer t.put(c)
	if c.body, err = appendTransaction(c.body[:0], &ev.Tx); err != nil {
		return Outcome{Status: "error", Err: "encode: " + err.Error()}
	}
	c.req = append(c.req[:0], t.prefix...)
	c.req = strconv.AppendInt(c.req, int64(len(c.body)), 10)
	c.req = append(c.req, "\r\n\r\n"...)
	c.req = append(c.req, c.body...)

	if ctx.Done() != nil {
		// Cancelling ctx moves the deadline to the past, which ends any
		// read or write at once; the connection is then not reused.
		stop := context.AfterFunc(ctx, c.interrupt)
		defer func() {
			if !stop() {
				c.close()
			}
		}()
	}
	out, err := t.exchange(ctx, c, deadline)
	if errors.Is(err, errIdleClosed) {
		// Once more, on a new connection.
		if _, err = t.dialOrTake(ctx, c, deadline, nil); err == nil {
			out, err = t.exchange(ctx, c, deadline)
		}
	}
	if err != nil {
		return t.fail(t.wrap(ctx, err, false, false))
	}
	return out
}

// fail is the outcome of a transport error, worded as net/http would.
func (t *FastHTTPTarget) fail(err error) Outcome {
	return Outcome{Status: "error", Err: "Post \"" + t.url + "\": " + err.Error()}
}

// errIdleClosed marks a failure on a reused connection before any byte of
// the answer: the server had closed it, and the request may be sent again.
var errIdleClosed = errors.New("server closed an idle connection")

// exchange sends c.req on the connected c and reads the answer. On an
// error c is closed; the error is errIdleClosed when the request may be
// sent again on a new connection.
func (t *FastHTTPTarget) exchange(ctx context.Context, c *fastConn, deadline time.Time) (Outcome, error) {
	reused := c.reused
	if err := c.nc.SetDeadline(deadline); err != nil {
		c.close()
		return Outcome{}, err
	}
	if err := ctx.Err(); err != nil {
		c.close() // cancelled before this deadline replaced interrupt's
		return Outcome{}, err
	}
	if _, err := c.nc.Write(c.req); err != nil {
		c.close()
		return Outcome{}, t.wrap(ctx, err, reused, true)
	}
	// Nothing of the answer has been read until Peek returns.
	if _, err := c.br.Peek(1); err != nil {
		c.close()
		return Outcome{}, t.wrap(ctx, err, reused, true)
	}
	out, err := c.readAnswer()
	if err != nil {
		c.close()
		return Outcome{}, t.wrap(ctx, err, false, false)
	}
	if c.closeAfter {
		c.close()
	} else {
		c.reused = true
	}
	return out, nil
}

// wrap words a transport error: a timeout, a cancelled ctx, or errIdleClosed
// when the request can be sent again.
func (t *FastHTTPTarget) wrap(ctx context.Context, err error, reused, nothingRead bool) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, os.ErrDeadlineExceeded):
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			return context.DeadlineExceeded // before ctx's own timer said so
		}
		return fmt.Errorf("timeout (%s) awaiting the answer", t.cfg.Timeout)
	case reused && nothingRead:
		return errIdleClosed
	case errors.Is(err, io.EOF):
		return io.ErrUnexpectedEOF // the server closed before a whole answer
	}
	return err
}

func (t *FastHTTPTarget) dial(ctx context.Context, c *fastConn, deadline time.Time) error {
	d := t.dialer
	d.Deadline = deadline
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("timeout (%s) connecting to %s", t.cfg.Timeout, t.addr)
		}
		return err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true) // the default in Go; a request is one write
	}
	c.mu.Lock()
	c.nc = nc
	c.mu.Unlock()
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, 4096)
	} else {
		c.br.Reset(nc)
	}
	c.reused = false
	return nil
}

// fastConn is one connection and the buffers of its requests and answers.
// Only the Send that took it from the pool uses it (interrupt excepted).
type fastConn struct {
	mu     sync.Mutex // guards nc against interrupt
	nc     net.Conn   // nil when not connected
	br     *bufio.Reader
	reused bool // an answer was read on nc

	req  []byte // the request being sent
	body []byte // its JSON body, then the answer's body

	closeAfter bool // the answer asked to close the connection

	// The last non-2xx body and its sample: overload answers repeat one
	// problem body, which need not be sampled again.
	lastBody   []byte
	lastSample string
}

// interrupt ends any read or write in progress on the connection.
func (c *fastConn) interrupt() {
	c.mu.Lock()
	if c.nc != nil {
		_ = c.nc.SetDeadline(time.Unix(1, 0))
	}
	c.mu.Unlock()
}

func (c *fastConn) close() {
	c.mu.Lock()
	if c.nc != nil {
		_ = c.nc.Close()
		c.nc = nil
	}
	c.mu.Unlock()
	c.reused = false
}

var (
	errMalformed = errors.New("malformed HTTP answer")
	errTooLarge  = errors.New("answer headers too large")
)

// readAnswer reads one answer: status line, headers, body (at most
// maxBody of it, into c.body), and returns its outcome. 1xx interim
// answers are skipped.
func (c *fastConn) readAnswer() (Outcome, error) {
	var code int
	var hdr headerInfo
	for interim := 0; ; interim++ {
		var err error
		if code, hdr, err = c.readHead(); err != nil {
			return Outcome{}, err
		}
		if code >= 200 || code == 101 {
			break
		}
		if interim == 5 {
			return Outcome{}, errors.New("too many 1xx answers")
		}
	}
	if code == 101 {
		return Outcome{}, errors.New("unexpected 101 Switching Protocols")
	}
	c.closeAfter = hdr.close
	var err error
	switch {
	case code == 204 || code == 304:
		c.body = c.body[:0]
	case hdr.chunked:
		err = c.readChunked()
	case hdr.length >= 0:
		err = c.readLength(hdr.length)
	default: // the body runs until the server closes the connection
		c.closeAfter = true
		err = c.readToEOF()
	}
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{Status: statusString(code), OK: code/100 == 2}
	if code == 200 {
		out.Decision = findDecision(c.body)
	}
	if !out.OK {
		if c.lastBody == nil || !bytes.Equal(c.body, c.lastBody) {
			c.lastBody = append(c.lastBody[:0], c.body...)
			c.lastSample = sample(c.body)
		}
		out.Err = "status " + out.Status + ": " + c.lastSample
	}
	return out, nil
}

// headerInfo is what readHead keeps of the headers.
type headerInfo struct {
	length  int64 // Content-Length, -1 when absent
	chunked bool
	close   bool
}

// readHead reads the status line and headers of an answer.
func (c *fastConn) readHead() (int, headerInfo, error) {
	hdr := headerInfo{length: -1}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, hdr, c.lineErr(err)
	}
	n := len(line)
	// HTTP/1.x SP 3DIGIT [SP reason] CRLF
	if len(line) < len("HTTP/1.1 200\n") || string(line[:7]) != "HTTP/1." || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ' && line[12] != '\r' && line[12] != '\n') {
		return 0, hdr, errMalformed
	}
	code := 0
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return 0, hdr, errMalformed
		}
		code = 10*code + int(d-'0')
	}
	if code < 100 {
		return 0, hdr, errMalformed
	}
	http10 := line[7] == '0'
	keepAlive := false
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, hdr, c.lineErr(err)
		}
		if n += len(line); n > maxHeaderBytes {
			return 0, hdr, errTooLarge
		}
		line = trimCRLF(line)
		if len(line) == 0 {
			break
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 || line[0] == ' ' || line[0] == '\t' {
			return 0, hdr, errMalformed // no name, or an obsolete folded line
		}
		name, value := line[:i], trimOWS(line[i+1:])
		switch {
		case equalFold(name, "content-length"):
			v, ok := parseDecimal(value)
			if !ok || (hdr.length >= 0 && hdr.length != v) {
				return 0, hdr, errors.New("bad Content-Length")
			}
			hdr.length = v
		case equalFold(name, "transfer-encoding"):
			if !equalFold(value, "chunked") {
				return 0, hdr, fmt.Errorf("unsupported transfer encoding %q", value)
			}
			hdr.chunked = true
		case equalFold(name, "connection"):
			for tok := range bytes.SplitSeq(value, []byte{','}) {
				switch tok = trimOWS(tok); {
				case equalFold(tok, "close"):
					hdr.close = true
				case equalFold(tok, "keep-alive"):
					keepAlive = true
				}
			}
		}
	}
	if http10 && !keepAlive {
		hdr.close = true
	}
	return code, hdr, nil
}

// lineErr words the failure to read a line.
func (c *fastConn) lineErr(err error) error {
	if errors.Is(err, bufio.ErrBufferFull) {
		return errTooLarge
	}
	return err
}

// readLength reads a body of n bytes, keeping at most maxBody of it; the
// connection is closed after a longer one, unread.
func (c *fastConn) readLength(n int64) error {
	keep := min(n, maxBody)
	if int64(cap(c.body)) < keep {
		c.body = make([]byte, keep)
	}
	c.body = c.body[:keep]
	if _, err := io.ReadFull(c.br, c.body); err != nil {
		return noEOF(err)
	}
	if n > keep {
		c.closeAfter = true
	}
	return nil
}

// readToEOF reads a body delimited by the end of the connection.
func (c *fastConn) readToEOF() error {
	c.body = c.body[:0]
	for len(c.body) < maxBody {
		if len(c.body) == cap(c.body) {
			c.body = append(c.body, 0)[:len(c.body)]
		}
		m, err := c.br.Read(c.body[len(c.body):min(cap(c.body), maxBody)])
		c.body = c.body[:len(c.body)+m]
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readChunked reads a chunked body and its trailers, keeping at most
// maxBody of it; past that the connection is closed, the rest unread.
func (c *fastConn) readChunked() error {
	c.body = c.body[:0]
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return noEOF(c.lineErr(err))
		}
		size, ok := parseChunkSize(trimCRLF(line))
		if !ok {
			return errors.New("malformed chunked encoding")
		}
		if size == 0 {
			break
		}
		if int64(len(c.body))+size > maxBody {
			c.closeAfter = true
			size = maxBody - int64(len(c.body))
			c.body = append(c.body, make([]byte, size)...)
			_, err := io.ReadFull(c.br, c.body[len(c.body)-int(size):])
			return noEOF(err)
		}
		n := len(c.body)
		c.body = append(c.body, make([]byte, size)...) // no allocation when it fits
		if _, err := io.ReadFull(c.br, c.body[n:]); err != nil {
			return noEOF(err)
		}
		if err := c.readCRLF(); err != nil {
			return err
		}
	}
	for n := 0; ; { // trailers, ignored
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return noEOF(c.lineErr(err))
		}
		if n += len(line); n > maxHeaderBytes {
			return errTooLarge
		}
		if len(trimCRLF(line)) == 0 {
			return nil
		}
	}
}

// readCRLF reads the line end after a chunk's data.
func (c *fastConn) readCRLF() error {
	b, err := c.br.ReadByte()
	if err == nil && b == '\r' {
		b, err = c.br.ReadByte()
	}
	if err != nil {
		return noEOF(err)
	}
	if b != '\n' {
		return errors.New("malformed chunked encoding")
	}
	return nil
}

// noEOF turns the end of the connection inside an answer into an error.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseChunkSize reads a chunk-size line: hex digits, then perhaps
// whitespace and ";" extensions, which are ignored.
func parseChunkSize(b []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(b); i++ {
		d := b[i]
		switch {
		case '0' <= d && d <= '9':
			d -= '0'
		case 'a' <= d && d <= 'f':
			d -= 'a' - 10
		case 'A' <= d && d <= 'F':
			d -= 'A' - 10
		default:
			goto rest
		}
		if i >= 15 {
			return 0, false
		}
		n = n<<4 | int64(d)
	}
rest:
	if i == 0 {
		return 0, false
	}
	rest := trimOWS(b[i:])
	return n, len(rest) == 0 || rest[0] == ';'
}

// parseDecimal reads a Content-Length value.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, d := range b {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = 10*n + int64(d-'0')
	}
	return n, true
}

func trimCRLF(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// trimOWS trims spaces and tabs.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares b with the lower-case ASCII s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// findDecision finds the decision of a result by a scan: the first
// "decision" member's string value. A quote inside a JSON string is
// escaped, so `"decision"` followed by a colon can only be a member name.
func findDecision(body []byte) fraud.Decision {
	const key = `"decision"`
	for {
		i := bytes.Index(body, []byte(key))
		if i < 0 {
			return ""
		}
		body = body[i+len(key):]
		rest := trimJSONSpace(body)
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		rest = trimJSONSpace(rest[1:])
		if len(rest) == 0 || rest[0] != '"' {
			return ""
		}
		rest = rest[1:]
		j := bytes.IndexByte(rest, '"')
		if j < 0 || bytes.IndexByte(rest[:j], '\\') >= 0 {
			return ""
		}
		switch v := rest[:j]; string(v) {
		case string(fraud.Approve):
			return fraud.Approve
		case string(fraud.Review):
			return fraud.Review
		case string(fraud.Decline):
			return fraud.Decline
		default:
			return fraud.Decision(v)
		}
	}
}

func trimJSONSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// statusStrings holds the status codes as strings, so that an answer's
// Status costs no allocation.
var statusStrings = func() (s [1000]string) {
	for i := 100; i < len(s); i++ {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusString(code int) string { return statusStrings[code] }
