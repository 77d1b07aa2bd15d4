package config

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/taxbureau"
)

// Options are etaxd's settings. The zero value is not usable: start from
// Default (Load does) and check changes with Validate.
type Options struct {
	// ConfigFile is the JSON file the options were read from, "" for none.
	// It is set by Load from --config or ETAXD_CONFIG, never by the file.
	ConfigFile string

	// DataDir holds the bbolt file, the development key file and demo.json.
	DataDir string
	// Listen is the HTTP address, host:port.
	Listen string
	// Dev is development mode: a missing master key file is created (mode
	// 0600) with a fresh key, and the log says so.
	Dev bool
	// KeyFile is the master key file; "" means <DataDir>/master.keys
	// (see KeyPath).
	KeyFile string
	// KeysEnv names the environment variable that may hold master keys too.
	KeysEnv string
	// Demo seeds the demo tenant at start and writes <DataDir>/demo.json.
	Demo bool
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// LogFormat is text or json.
	LogFormat string
	// ServiceName is the WeChat official account named in prompts (F6).
	ServiceName string
	// NodeName names this node in /ops/status; "" means the host name.
	NodeName string

	// Lock holds the F13 thresholds of hosted accounts.
	Lock domain.LockPolicy
	// SMS is the B3 budget.
	SMS domain.SMSPolicy
	// CodeTTL is how long a person has to enter an SMS code.
	CodeTTL time.Duration
	// IdleTimeout passivates an account actor idle that long.
	IdleTimeout time.Duration
	// GatewayTimeout bounds every tax-bureau call.
	GatewayTimeout time.Duration

	// Sim holds the in-process tax-bureau simulator's knobs.
	Sim SimOptions
}

// SimOptions are the simulator rules an operator may change; the others
// keep taxbureau.DefaultSimConfig's values.
type SimOptions struct {
	// SessionLength is how long a bureau session lives.
	SessionLength time.Duration
	// QRValidity is how long a login QR code may be scanned.
	QRValidity time.Duration
	// CertValidity is how long a face certification counts; 0 means one
	// invoice only.
	CertValidity time.Duration
	// NoSMSRegions are the region codes whose login skips the SMS step.
	NoSMSRegions []string
}

// Default returns the options of a fresh development install: data under
// ./data, HTTP on 127.0.0.1:8080, dev keys, and the manual's numbers.
func Default() Options {
	ec := actors.DefaultConfig()
	sc := taxbureau.DefaultSimConfig()
	return Options{
		DataDir:        "./data",
		Listen:         "127.0.0.1:8080",
		Dev:            true,
		KeysEnv:        "ETAXD_MASTER_KEYS",
		LogLevel:       "info",
		LogFormat:      "text",
		ServiceName:    "发票云",
		Lock:           domain.DefaultLockPolicy(),
		SMS:            domain.DefaultSMSPolicy(),
		CodeTTL:        ec.CodeTTL,
		IdleTimeout:    ec.IdleTimeout,
		GatewayTimeout: ec.GatewayTimeout,
		Sim: SimOptions{
			SessionLength: sc.SessionLength,
			QRValidity:    sc.QRValidity,
			CertValidity:  sc.CertValidity,
			NoSMSRegions:  slices.Clone(sc.NoSMSRegions),
		},
	}
}

// KeyPath returns the master key file: KeyFile, or master.keys in DataDir.
func (o Options) KeyPath() string {
	if o.KeyFile != "" {
		return o.KeyFile
	}
	return filepath.Join(o.DataDir, "master.keys")
}

// DBPath returns the bbolt file in DataDir.
func (o Options) DBPath() string { return filepath.Join(o.DataDir, "etaxd.db") }

// DemoPath returns demo.json in DataDir.
func (o Options) DemoPath() string { return filepath.Join(o.DataDir, "demo.json") }

// Node returns NodeName, or the host name when it is empty.
func (o Options) Node() string {
	if o.NodeName != "" {
		return o.NodeName
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "etaxd"
}

// SlogLevel returns LogLevel as a slog level (info for an unknown one:
// Validate refuses those).
func (o Options) SlogLevel() slog.Level {
	switch strings.ToLower(o.LogLevel) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// EngineConfig returns the actor engine's configuration: the options' rules
// and timings over actors.DefaultConfig.
func (o Options) EngineConfig() actors.Config {
	c := actors.DefaultConfig()
	c.LockPolicy = o.Lock
	c.SMSPolicy = o.SMS
	c.CodeTTL = o.CodeTTL
	c.IdleTimeout = o.IdleTimeout
	c.GatewayTimeout = o.GatewayTimeout
	c.ServiceName = o.ServiceName
	return c
}

// SimConfig returns the simulator's configuration: the Sim options over
// taxbureau.DefaultSimConfig.
func (o Options) SimConfig() taxbureau.SimConfig {
	c := taxbureau.DefaultSimConfig()
	c.SessionLength = o.Sim.SessionLength
	c.QRValidity = o.Sim.QRValidity
	c.CertValidity = o.Sim.CertValidity
	c.NoSMSRegions = slices.Clone(o.Sim.NoSMSRegions)
	return c
}
