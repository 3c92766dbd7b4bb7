package media

import (
	"net"
	"testing"
)

func TestReserveHoldsBothProtocols(t *testing.T) {
	r, err := Reserve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	addr := r.UDP.LocalAddr().String()
	if r.TCP.Addr().String() != addr {
		t.Fatalf("UDP %s and TCP %s differ", addr, r.TCP.Addr())
	}
	if _, err := net.ListenPacket("udp", addr); err == nil {
		t.Fatal("UDP port is not held")
	}
	if _, err := net.Listen("tcp", addr); err == nil {
		t.Fatal("TCP port is not held")
	}
	if _, err := Reserve(addr); err == nil {
		t.Fatal("a second reservation must fail")
	}
}
