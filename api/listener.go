package api

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
)

// Listener wraps ln so that the few answers net/http writes on its own,
// before any handler runs (400 for a malformed request, 431 for headers
// over the limit, 501 for an unknown transfer coding), are problem+json
// like every other error, instead of text/plain.
//
// net/http writes each of them to the connection in one Write, in a shape
// no handler's response has: the status line, then exactly
// "Content-Type: text/plain; charset=utf-8" and "Connection: close" in that
// order (a handler's headers are written sorted, Connection first). Only a
// Write of that shape is rewritten; everything else passes through.
func Listener(ln net.Listener) net.Listener { return problemListener{ln} }

type problemListener struct{ net.Listener }

func (l problemListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &problemConn{Conn: c}, nil
}

type problemConn struct{ net.Conn }

const goErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c *problemConn) Write(b []byte) (int, error) {
	if out, ok := rewriteGoError(b); ok {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// CloseWrite lets net/http half-close after a 431, as it does on a bare
// TCP connection.
func (c *problemConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// rewriteGoError turns one of net/http's own plain-text error answers into
// the same status with a problem+json body.
func rewriteGoError(b []byte) ([]byte, bool) {
	const prefix = "HTTP/1.1 "
	if !bytes.HasPrefix(b, []byte(prefix)) {
		return nil, false
	}
	end := bytes.Index(b, []byte(goErrorHeaders))
	if end < 0 || bytes.IndexByte(b[:end], '\n') >= 0 || end < len(prefix)+3 {
		return nil, false
	}
	code, err := strconv.Atoi(string(b[len(prefix) : len(prefix)+3]))
	if err != nil || code < 400 || code > 599 {
		return nil, false
	}
	detail := "the request could not be parsed"
	switch code {
	case http.StatusRequestHeaderFieldsTooLarge:
		detail = "the request headers are over the server's limit"
	case http.StatusNotImplemented:
		detail = "the request uses a transfer coding the server does not support"
	}
	body := problemJSON(code, http.StatusText(code), detail)
	out := make([]byte, 0, 128+len(body))
	out = append(out, prefix...)
	out = strconv.AppendInt(out, int64(code), 10)
	out = append(out, ' ')
	out = append(out, http.StatusText(code)...)
	out = append(out, "\r\nContent-Type: application/problem+json\r\nContent-Length: "...)
	out = strconv.AppendInt(out, int64(len(body)), 10)
	out = append(out, "\r\nConnection: close\r\n\r\n"...)
	return append(out, body...), true
}
