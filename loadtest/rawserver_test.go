package loadtest

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// rawServer is an HTTP/1.1 server on a bare TCP listener, for what
// net/http's server will not do (close a connection mid-answer, answer
// HTTP/1.0, send chunk extensions) and for benchmarks, where it must cost
// next to nothing: it reads requests into buffers reused per connection
// and allocates nothing per request.
type rawServer struct {
	ln      net.Listener
	url     string
	accepts atomic.Int64 // connections accepted
	// handle writes the answer to req on w; returning false closes the
	// connection once w is flushed.
	handle func(req *rawRequest, w *bufio.Writer) bool
	// onClose, when set, is called after the server closed a connection.
	onClose func()
	done    chan struct{} // closed when the test ends: handlers that hang return

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

// rawRequest is one request as read; its slices are reused by the next.
type rawRequest struct {
	Line   []byte // the request line, without CRLF
	Header []byte // the header lines, each ending in \n
	Body   []byte
	N      int // its index on the connection, from 0
	// Done is closed when the test ends; a handler that never answers
	// waits for it.
	Done <-chan struct{}
}

// Get returns the first value of the named header, "" when absent.
func (r *rawRequest) Get(name string) string {
	for line := range bytes.Lines(r.Header) {
		line = trimCRLF(line)
		if i := bytes.IndexByte(line, ':'); i > 0 && bytes.EqualFold(line[:i], []byte(name)) {
			return string(trimOWS(line[i+1:]))
		}
	}
	return ""
}

// newRawServer starts a server that answers with handle; it stops, and
// closes every connection, when the test ends.
func newRawServer(tb testing.TB, handle func(req *rawRequest, w *bufio.Writer) bool) *rawServer {
	return startRawServer(tb, &rawServer{handle: handle})
}

// startRawServer starts s, whose handle (and onClose) are set.
func startRawServer(tb testing.TB, s *rawServer) *rawServer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.ln, s.url, s.done, s.conns = ln, "http://"+ln.Addr().String(), make(chan struct{}), map[net.Conn]bool{}
	s.wg.Go(s.accept)
	tb.Cleanup(s.close)
	return s
}

func (s *rawServer) close() {
	s.ln.Close()
	close(s.done)
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *rawServer) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepts.Add(1)
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Go(func() {
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
			if s.onClose != nil {
				s.onClose()
			}
		})
	}
}

func (s *rawServer) serve(c net.Conn) {
	br := bufio.NewReader(c)
	bw := bufio.NewWriter(c)
	req := rawRequest{Done: s.done}
	for n := 0; ; n++ {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		req.Line = append(req.Line[:0], trimCRLF(line)...)
		req.Header = req.Header[:0]
		length := 0
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(trimCRLF(line)) == 0 {
				break
			}
			req.Header = append(req.Header, line...)
			if i := bytes.IndexByte(line, ':'); i > 0 && equalFold(line[:i], "content-length") {
				if length, err = strconv.Atoi(string(trimOWS(trimCRLF(line[i+1:])))); err != nil {
					return
				}
			}
		}
		if cap(req.Body) < length {
			req.Body = make([]byte, length)
		}
		req.Body = req.Body[:length]
		if _, err := io.ReadFull(br, req.Body); err != nil {
			return
		}
		req.N = n
		keep := s.handle(&req, bw)
		if bw.Flush() != nil || !keep {
			return
		}
	}
}

// answer200 is a fixed result answer, as the no-op server's.
var answer200 = answer("200 OK", `{"transaction_id":"noop","score":0.01,"decision":"approve","reasons":[],"features":{},"model_version":"noop","degraded":false,"duplicate":false,"late":false}`)

// answer is a keep-alive answer with a JSON body.
func answer(status, body string) string {
	return "HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// fixedAnswer answers every request with the same bytes, keeping the
// connection.
func fixedAnswer(answer string) func(*rawRequest, *bufio.Writer) bool {
	return func(_ *rawRequest, w *bufio.Writer) bool {
		w.WriteString(answer)
		return true
	}
}
