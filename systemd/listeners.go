package systemd

import (
	"errors"
	"fmt"
	"net"

	"github.com/coreos/go-systemd/v22/activation"
)

// Names of the socket-activated listeners the appliance expects, set by
// FileDescriptorName= in clinicbox-http.socket (ListenStream=80) and
// clinicbox-https.socket (ListenStream=443).
const (
	ListenerHTTP  = "http"  // plain HTTP: ACME HTTP-01 challenges and redirects to HTTPS
	ListenerHTTPS = "https" // the appliance's HTTPS server
)

// Listeners returns the listening sockets systemd passed to this process
// (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES), keyed by FileDescriptorName=:
// ListenerHTTP and ListenerHTTPS for the clinicbox socket units. A name may
// carry several listeners (a socket unit with several ListenStream= lines).
// Without socket activation the map is empty and the caller binds its own
// ports.
//
// Call it once, early: it unsets the LISTEN_* variables, so that child
// processes do not inherit them, and a second call finds nothing. Unlike
// activation.ListenersWithNames, which skips them silently, a passed fd that
// is not a stream listener (say, ListenDatagram= in a drop-in) is an error;
// the listeners already made are closed then.
func Listeners() (map[string][]net.Listener, error) {
	out := map[string][]net.Listener{}
	var errs []error
	for _, f := range activation.Files(true) {
		l, err := net.FileListener(f)
		name := f.Name()
		f.Close() // FileListener holds its own duplicate of the fd
		if err != nil {
			errs = append(errs, fmt.Errorf("socket-activated fd %q is not a stream listener: %w", name, err))
			continue
		}
		out[name] = append(out[name], l)
	}
	if len(errs) > 0 {
		for _, ls := range out {
			for _, l := range ls {
				l.Close()
			}
		}
		return nil, fmt.Errorf("systemd: %w", errors.Join(errs...))
	}
	return out, nil
}
