package natsbus

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// EmbeddedOptions configure the embedded nats-server. Only StoreDir is
// required; the zero value of every other field is the safe default.
type EmbeddedOptions struct {
	// StoreDir is where JetStream keeps its streams and consumers, usually
	// "<data dir>/nats". Streams, durable consumers and unacked messages
	// survive a restart on the same directory.
	StoreDir string

	// RelaxedSync, when true, lets the file store fsync every two minutes
	// instead of after every write. Publishing gets about 20 times faster,
	// but a power loss or kernel crash (not a process crash) can lose the
	// messages of the last two minutes: prompts a person then never sees.
	// Leave it false on a single node; a replicated cluster (Replicas 3)
	// gets its durability from replication instead.
	RelaxedSync bool

	// Listen, when set ("127.0.0.1:4222", ":0" for a random port), makes the
	// server accept client connections there, for ERPs that use the NATS
	// API. Empty: the server does not listen at all and only this process
	// connects to it (in-process).
	Listen string
	// User and Password, or Token, are what the ERP clients of Listen
	// present; set one or the other. Such a client may only use etaxd's
	// NATS API and receive events (ERPPublish, ERPSubscribe). This process
	// connects with a random token of its own (see clientAuth).
	User     string
	Password string
	Token    string

	// ServerName names the server in logs and monitoring; default "etaxd".
	// In a cluster every server needs a name of its own.
	ServerName string
	// Cluster, when set, routes this server to the other nodes' servers
	// (cluster mode). A routed server always listens for clients (on
	// Listen, or on 127.0.0.1 at a random port with a token of its own).
	Cluster *RouteOptions
	// Replicas is the replica count of etaxd's streams and consumers.
	// Default 1; a single server refuses more.
	Replicas int
	// ReadyTimeout bounds the wait for the server to accept connections;
	// default 10s.
	ReadyTimeout time.Duration
	// Logger receives the server's and the connection's messages (the
	// server's notices at debug level); nil discards the server's and logs
	// the connection's to slog.Default.
	Logger *slog.Logger
}

// ConnectOptions configure a connection to external NATS servers
// (nats.urls). The zero value connects without credentials.
type ConnectOptions struct {
	// Name identifies this client to the servers; default "etaxd".
	Name string
	// User and Password, Token, or CredsFile (a .creds file with a JWT and
	// an NKey seed) authenticate; set at most one kind.
	User      string
	Password  string
	Token     string
	CredsFile string
	// TLSCAFile, TLSCertFile and TLSKeyFile are PEM files: the CAs that
	// sign the servers' certificates (set: TLS, verified against them),
	// and a client certificate with its key for servers that verify
	// their clients. See external.go.
	TLSCAFile   string
	TLSCertFile string
	TLSKeyFile  string
	// PingInterval is how often the client pings the server; a server
	// that stops answering is left after two unanswered pings. Default
	// nats.go's (2 minutes).
	PingInterval time.Duration
	// Replicas is the replica count of etaxd's streams and consumers;
	// default 1. Use 3 on a three-node cluster.
	Replicas int
	// Timeout bounds the initial connection; default 10s.
	Timeout time.Duration
	// Logger receives connection events; nil means slog.Default.
	Logger *slog.Logger
}

// Bus is etaxd's connection to NATS with JetStream, and the embedded server
// when there is one. Close it last, after every Queue, Consumer, EventStream
// and Webhooks built on it.
type Bus struct {
	ns       *server.Server // nil when connected to external servers
	nc       *nats.Conn
	js       jetstream.JetStream
	replicas int
	log      *slog.Logger

	closed    chan struct{} // closed by the connection's ClosedHandler
	closeOnce sync.Once
	closeErr  error
}

// ErrNotReady is returned by StartEmbedded when the embedded server did not
// become ready within EmbeddedOptions.ReadyTimeout.
var ErrNotReady = errors.New("natsbus: NATS server not ready")

// StartEmbedded starts a nats-server with JetStream inside this process,
// waits until it accepts connections and connects to it in-process.
func StartEmbedded(opts EmbeddedOptions) (*Bus, error) {
	if opts.StoreDir == "" {
		return nil, errors.New("natsbus: EmbeddedOptions.StoreDir is required")
	}
	if opts.Token != "" && (opts.User != "" || opts.Password != "") {
		return nil, errors.New("natsbus: set either User/Password or Token, not both")
	}
	if opts.ServerName == "" {
		opts.ServerName = "etaxd"
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 10 * time.Second
	}
	replicas, err := checkReplicas(opts.Replicas)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	so := &server.Options{
		ServerName: opts.ServerName,
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		SyncAlways: !opts.RelaxedSync,
		NoSigs:     true, // the process owns its signals
		NoLog:      opts.Logger == nil,
	}
	// Who may connect, once the server listens: ERPs with the configured
	// credentials (restricted), and this process with an internal token.
	auth := &clientAuth{erpToken: opts.Token, erpUser: opts.User, erpPass: opts.Password}
	if opts.Cluster != nil {
		if err := opts.Cluster.apply(so); err != nil {
			return nil, err
		}
		// The cluster's store keeps records of up to 1 MiB in JetStream
		// messages, with room for their headers.
		so.MaxPayload = ClusterMaxPayload
		if opts.Listen == "" {
			// A routed server must listen: nats-server announces its client
			// URL to its routes. Only this process connects to it (in
			// process), with its internal token.
			opts.Listen = "127.0.0.1:0"
		}
	}
	if opts.Listen == "" {
		so.DontListen = true
	} else {
		tok, err := randomToken()
		if err != nil {
			return nil, err
		}
		auth.internal = tok
		so.CustomClientAuthentication = auth
		host, port, err := net.SplitHostPort(opts.Listen)
		if err != nil {
			return nil, fmt.Errorf("natsbus: NATS listen address %q: %w", opts.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("natsbus: NATS listen address %q: bad port", opts.Listen)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		so.Host, so.Port = host, p
		if so.Host == "" {
			so.Host = "0.0.0.0"
		}
	}
	ns, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("natsbus: configure embedded NATS: %w", err)
	}
	switch {
	case opts.Logger != nil && opts.Cluster != nil:
		ns.SetLoggerV2(newThrottledLogger(opts.Logger.With("component", "nats-server"), 30*time.Second), false, false, false)
	case opts.Logger != nil:
		ns.SetLoggerV2(serverLogger{opts.Logger.With("component", "nats-server")}, false, false, false)
	}
	go ns.Start()
	if !ns.ReadyForConnections(opts.ReadyTimeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		// nats-server keeps waiting when a listener failed: the usual
		// cause is a port that another program holds (its log says which).
		where := ""
		if opts.Listen != "" {
			where += ", client address " + opts.Listen
		}
		if opts.Cluster != nil {
			where += ", route address " + opts.Cluster.Listen
		}
		return nil, fmt.Errorf("%w after %s (store %s%s: is a port in use?)", ErrNotReady, opts.ReadyTimeout, opts.StoreDir, where)
	}
	b := &Bus{ns: ns, replicas: replicas, log: log, closed: make(chan struct{})}
	copts := []nats.Option{nats.InProcessServer(ns), nats.Name(opts.ServerName)}
	if auth.internal != "" {
		copts = append(copts, nats.Token(auth.internal))
	}
	if err := b.connect("", copts); err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, err
	}
	return b, nil
}

// Connect connects to external NATS servers with JetStream enabled.
func Connect(urls []string, opts ConnectOptions) (*Bus, error) {
	if len(urls) == 0 {
		return nil, errors.New("natsbus: no NATS URL")
	}
	n := 0
	for _, set := range []bool{opts.User != "" || opts.Password != "", opts.Token != "", opts.CredsFile != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, errors.New("natsbus: set one of User/Password, Token and CredsFile")
	}
	if opts.Name == "" {
		opts.Name = "etaxd"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	replicas, err := checkReplicas(opts.Replicas)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	b := &Bus{replicas: replicas, log: log, closed: make(chan struct{})}
	copts := []nats.Option{
		nats.Name(opts.Name),
		nats.Timeout(opts.Timeout),
		nats.MaxReconnects(-1), // a restarted server must not cost a restart of etaxd
		nats.RetryOnFailedConnect(false),
	}
	switch {
	case opts.Token != "":
		copts = append(copts, nats.Token(opts.Token))
	case opts.User != "":
		copts = append(copts, nats.UserInfo(opts.User, opts.Password))
	case opts.CredsFile != "":
		copts = append(copts, nats.UserCredentials(opts.CredsFile))
	}
	copts = append(copts, opts.externalOptions()...)
	url := urls[0]
	for _, u := range urls[1:] {
		url += "," + u
	}
	if err := b.connect(url, copts); err != nil {
		return nil, err
	}
	return b, nil
}

func checkReplicas(r int) (int, error) {
	switch {
	case r == 0:
		return 1, nil
	case r < 0 || r > 5:
		return 0, fmt.Errorf("natsbus: replicas %d out of range 1..5", r)
	}
	return r, nil
}

// connect dials and builds the JetStream context. url is empty for the
// in-process connection.
func (b *Bus) connect(url string, copts []nats.Option) error {
	copts = append(copts,
		nats.DrainTimeout(drainWait),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { b.log.Info("NATS reconnected", "url", nc.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			b.log.Warn("NATS async error", "subject", subj, "err", err)
		}),
	)
	nc, err := nats.Connect(url, copts...)
	if err != nil {
		return fmt.Errorf("natsbus: connect to NATS: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		<-b.closed
		return fmt.Errorf("natsbus: JetStream: %w", err)
	}
	b.nc, b.js = nc, js
	return nil
}

// Conn returns the NATS connection (for request/reply subjects).
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream returns the JetStream context.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Replicas returns the replica count for etaxd's streams and consumers.
func (b *Bus) Replicas() int { return b.replicas }

// Embedded reports whether the bus runs its own server.
func (b *Bus) Embedded() bool { return b.ns != nil }

// ClientURL returns the URL other processes connect to: the embedded
// server's listen address, or the connected server's URL when external.
// It is empty for an embedded server that does not listen.
func (b *Bus) ClientURL() string {
	if b.ns != nil {
		if b.ns.Addr() == nil {
			return ""
		}
		return b.ns.ClientURL()
	}
	return b.nc.ConnectedUrlRedacted()
}

// Ready reports whether the connection is up (and, when embedded, the
// server running): what /readyz checks.
func (b *Bus) Ready() bool {
	if b.nc == nil || !b.nc.IsConnected() {
		return false
	}
	return b.ns == nil || b.ns.Running()
}

// Close drains the connection (pending publishes are flushed and
// subscriptions finish their buffered messages), then shuts the embedded
// server down and waits for it. It is safe to call twice.
func (b *Bus) Close() error {
	b.closeOnce.Do(func() {
		if err := b.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			b.closeErr = fmt.Errorf("natsbus: drain NATS connection: %w", err)
			b.nc.Close()
		}
		// Drain is asynchronous; the closed handler runs when it is done, or
		// after drainWait when a subscription does not consume its messages.
		<-b.closed
		if b.ns != nil {
			b.ns.Shutdown()
			b.ns.WaitForShutdown()
		}
	})
	return b.closeErr
}

// drainWait bounds Close's drain of the connection.
const drainWait = 10 * time.Second

// serverLogger routes nats-server's log to slog. Notices (the startup
// banner among them) go to debug: they are many and say nothing an
// operator acts on.
type serverLogger struct{ l *slog.Logger }

func (s serverLogger) Noticef(f string, v ...any) { s.l.Debug(fmt.Sprintf(f, v...)) }
func (s serverLogger) Warnf(f string, v ...any)   { s.l.Warn(fmt.Sprintf(f, v...)) }
func (s serverLogger) Fatalf(f string, v ...any)  { s.l.Error(fmt.Sprintf(f, v...)) }
func (s serverLogger) Errorf(f string, v ...any)  { s.l.Error(fmt.Sprintf(f, v...)) }
func (s serverLogger) Debugf(f string, v ...any)  { s.l.Debug(fmt.Sprintf(f, v...)) }
func (s serverLogger) Tracef(f string, v ...any)  { s.l.Debug(fmt.Sprintf(f, v...)) }
