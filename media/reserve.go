package media

import (
	"errors"
	"fmt"
	"net"
)

// Reservation holds a UDP socket and a TCP listener on the same address.
type Reservation struct {
	UDP net.PacketConn
	TCP net.Listener
}

// Reserve binds addr on UDP and TCP (TURN speaks both on 3478). With port
// 0 (tests) it picks a port free on both, retrying when the number the
// kernel gave for UDP is taken on TCP.
func Reserve(addr string) (*Reservation, error) {
	_, port, _ := net.SplitHostPort(addr)
	for try := 0; ; try++ {
		r, err := reserve(addr)
		if err == nil || port != "0" || try == 10 {
			return r, err
		}
	}
}

func reserve(addr string) (*Reservation, error) {
	udp, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("media: TURN port %s (UDP): %w", addr, err)
	}
	// Bind TCP on the port UDP got, so ":0" in tests reserves one number.
	tcpAddr := addr
	if host, port, err := net.SplitHostPort(addr); err == nil && port == "0" {
		_, p, _ := net.SplitHostPort(udp.LocalAddr().String())
		tcpAddr = net.JoinHostPort(host, p)
	}
	tcp, err := net.Listen("tcp", tcpAddr)
	if err != nil {
		udp.Close()
		return nil, fmt.Errorf("media: TURN port %s (TCP): %w", tcpAddr, err)
	}
	return &Reservation{UDP: udp, TCP: tcp}, nil
}

// Close releases both sockets.
func (r *Reservation) Close() error {
	return errors.Join(r.UDP.Close(), r.TCP.Close())
}
