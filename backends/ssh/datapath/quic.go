//go:build !lean

package datapath

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// The QUIC transport: every stream is a QUIC connection with one stream
// (quic-go's own congestion control, one per connection, as TCP has one
// per socket). TLS 1.3 authenticates the agent with a one-time
// self-signed certificate whose SHA-256 the client gets inside SSH and
// pins; the frames inside are sealed as on TCP.

// quicALPN names the protocol in the TLS handshake.
const quicALPN = "async-datapath-1"

// quicServerName is the certificate's name (pinning, not names, decides).
const quicServerName = "async-datapath"

// quietQUIC keeps quic-go from printing to stderr when the system caps
// its UDP buffers below what it wants (an unprivileged agent): the data
// path runs anyway, and async's output stays its own.
var quietQUIC = sync.OnceFunc(func() {
	if os.Getenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING") == "" {
		os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	}
})

func quicConfig(handshake time.Duration) *quic.Config {
	quietQUIC()
	return &quic.Config{
		HandshakeIdleTimeout:       handshake,
		MaxIdleTimeout:             30 * time.Second,
		KeepAlivePeriod:            10 * time.Second,
		MaxStreamReceiveWindow:     32 << 20,
		MaxConnectionReceiveWindow: 48 << 20,
	}
}

// oneTimeCert makes the agent's certificate for one data path.
func oneTimeCert() (tls.Certificate, []byte, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: serial, DNSNames: []string{quicServerName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	fp := sha256.Sum256(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, fp[:], nil
}

// ListenQUIC is Listen for the QUIC transport: one UDP socket carries
// the streams' connections. Listener.Fingerprint is the certificate's
// SHA-256, for the client to pin.
func ListenQUIC(host string, port int, ports PortRange, key Key) (*Listener, error) {
	cert, fp, err := oneTimeCert()
	if err != nil {
		return nil, fmt.Errorf("data path certificate: %w", err)
	}
	uc, err := listenUDP(host, port, ports)
	if err != nil {
		return nil, err
	}
	tr := &quic.Transport{Conn: uc}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{quicALPN}, MinVersion: tls.VersionTLS13}
	ql, err := tr.Listen(tc, quicConfig(5*time.Second))
	if err != nil {
		uc.Close()
		return nil, err
	}
	dl := &ctxDeadline{}
	dl.ctx, dl.cancel = context.WithCancel(context.Background())
	sl := &sharedListener{
		accept: func() (net.Conn, error) {
			ctx, cancel := dl.context()
			defer cancel()
			c, err := ql.Accept(ctx)
			if err != nil {
				return nil, err
			}
			// A connection that opens no stream does not hold the others up long.
			sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
			defer scancel()
			st, err := c.AcceptStream(sctx)
			if err != nil {
				c.CloseWithError(0, "")
				return nil, err
			}
			return &quicConn{c: c, Stream: st}, nil
		},
		addr:     uc.LocalAddr(),
		deadline: dl.set,
		release:  func() { dl.cancel(); ql.Close(); tr.Close(); uc.Close() },
	}
	return &Listener{ln: sl, key: key, label: string(QUIC), fp: fp}, nil
}

// ctxDeadline turns SetDeadline into contexts.
type ctxDeadline struct {
	mu     sync.Mutex
	t      time.Time
	ctx    context.Context
	cancel context.CancelFunc
}

func (d *ctxDeadline) set(t time.Time) error {
	d.mu.Lock()
	d.t = t
	d.mu.Unlock()
	if !t.IsZero() && !t.After(time.Now()) {
		d.cancel()
	}
	return nil
}

func (d *ctxDeadline) context() (context.Context, context.CancelFunc) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.t.IsZero() {
		return context.WithCancel(d.ctx)
	}
	return context.WithDeadline(d.ctx, d.t)
}

// quicDialer dials one QUIC connection per stream, pinning the agent's
// certificate.
func quicDialer(fp []byte) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, _, addr string) (net.Conn, error) {
		if len(fp) != sha256.Size {
			return nil, errors.New("no certificate fingerprint for the quic data path")
		}
		tc := &tls.Config{
			ServerName: quicServerName, NextProtos: []string{quicALPN}, MinVersion: tls.VersionTLS13,
			InsecureSkipVerify: true, // the pin below is the verification
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				if len(raw) == 0 {
					return errors.New("data path: no certificate")
				}
				got := sha256.Sum256(raw[0])
				if subtle.ConstantTimeCompare(got[:], fp) != 1 {
					return errors.New("data path: the certificate is not the one the agent announced over SSH")
				}
				return nil
			},
		}
		timeout := 5 * time.Second
		if d, ok := ctx.Deadline(); ok {
			timeout = time.Until(d)
		}
		c, err := quic.DialAddr(ctx, addr, tc, quicConfig(timeout))
		if err != nil {
			return nil, err
		}
		st, err := c.OpenStreamSync(ctx)
		if err != nil {
			c.CloseWithError(0, "")
			return nil, err
		}
		return &quicConn{c: c, Stream: st}, nil
	}
}

// quicConn is a QUIC connection's one stream as a net.Conn; closing it
// closes the connection.
type quicConn struct {
	*quic.Stream
	c *quic.Conn
}

func (q *quicConn) Close() error {
	q.Stream.CancelRead(0)
	q.Stream.Close()
	return q.c.CloseWithError(0, "")
}

func (q *quicConn) LocalAddr() net.Addr  { return q.c.LocalAddr() }
func (q *quicConn) RemoteAddr() net.Addr { return q.c.RemoteAddr() }
