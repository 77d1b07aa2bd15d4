package loopback

import "testing"

func TestHost(t *testing.T) {
	for _, tt := range []struct {
		host string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"::1", true},
		{"[::1]", true},
		{"::ffff:127.0.0.1", true},
		{"localhost", true},
		{"LocalHost.", true},
		{"app.localhost", true},
		{"", false},
		{"0.0.0.0", false},
		{"::", false},
		{"[::]", false},
		{"10.0.0.1", false},
		{"192.168.1.10", false},
		{"localhost.evil.example", false},
		{"evil-localhost", false},
		{"127.0.0.1.nip.io", false},
		{"fe80::1%lo", false},
	} {
		if got := Host(tt.host); got != tt.want {
			t.Errorf("Host(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestHostPort(t *testing.T) {
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:8080", true},
		{"[::1]:4222", true},
		{"localhost:0", true},
		{"localhost", true},
		{":8080", false},
		{"0.0.0.0:8080", false},
		{"[::]:8080", false},
		{"etaxd.example.com:443", false},
		{"10.1.2.3:80", false},
	} {
		if got := HostPort(tt.addr); got != tt.want {
			t.Errorf("HostPort(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}
