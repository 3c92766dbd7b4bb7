package systemd

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The socket-activation tests run the test binary again as a child that
// receives real listening sockets the way systemd passes them: as fds 3, 4,
// … with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID set to the child's own
// pid (by `sh -c 'LISTEN_PID=$$ exec …'`, since exec keeps the pid). The
// child calls Listeners, accepts one connection on each listener and writes
// the listener's name to it, and reports what it found on stdout.

const childEnv = "CLINICBOX_SYSTEMD_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(activationChild())
	}
	os.Exit(m.Run())
}

// activationChild is the child's side; its stdout is checked by the parent.
func activationChild() int {
	ls, err := Listeners()
	if err != nil {
		fmt.Println("error:", err)
		return 0
	}
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		if _, ok := os.LookupEnv(v); ok {
			fmt.Println("still set:", v)
		}
	}
	var names []string
	for name := range ls {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, l := range ls[name] {
			fmt.Printf("%s %s\n", name, l.Addr())
			c, err := l.Accept()
			if err != nil {
				fmt.Println("accept:", err)
				return 1
			}
			io.WriteString(c, name+"\n")
			c.Close()
			l.Close()
		}
	}
	fmt.Println("done")
	return 0
}

// passedFD is an fd for the child and its FileDescriptorName ("" for none).
type passedFD struct {
	f    *os.File
	name string
}

// dialTo is a listener the parent connects to, and the name it must answer.
type dialTo struct{ name, addr string }

// runActivated starts the child with fds passed as systemd would, connects
// to each listener in dial (all first: the connections wait in the listen
// backlog until the child accepts them in its own order), checks each
// answers with its name, and returns the child's report.
func runActivated(t *testing.T, fds []passedFD, dial []dialTo) string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to set LISTEN_PID to the child's pid")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sh, "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(),
		childEnv+"=1",
		fmt.Sprintf("LISTEN_FDS=%d", len(fds)),
	)
	var names []string
	for _, fd := range fds {
		cmd.ExtraFiles = append(cmd.ExtraFiles, fd.f) // fd 3, 4, …
		names = append(names, fd.name)
	}
	cmd.Env = append(cmd.Env, "LISTEN_FDNAMES="+strings.Join(names, ":"))
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, len(dial))
	for i, d := range dial {
		c, err := net.DialTimeout("tcp", d.addr, 5*time.Second)
		if err != nil {
			cmd.Process.Kill()
			t.Fatalf("dial %s listener at %s: %v", d.name, d.addr, err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		conns[i] = c
	}
	for i, c := range conns {
		got, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil || got != dial[i].name+"\n" {
			t.Errorf("listener %s at %s answered %q, %v; want its name", dial[i].name, dial[i].addr, got, err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, out.String())
	}
	return out.String()
}

func TestListenersActivated(t *testing.T) {
	httpF, httpAddr := tcpListenerFile(t)
	httpsF, httpsAddr := tcpListenerFile(t)
	got := runActivated(t,
		[]passedFD{{httpF, ListenerHTTP}, {httpsF, ListenerHTTPS}},
		[]dialTo{{ListenerHTTP, httpAddr}, {ListenerHTTPS, httpsAddr}})
	want := fmt.Sprintf("http %s\nhttps %s\ndone\n", httpAddr, httpsAddr)
	if got != want {
		t.Errorf("child reported\n%s\nwant\n%s", got, want)
	}
}

// Two ListenStream= lines in one socket unit give one name two listeners;
// an fd without a name gets go-systemd's LISTEN_FD_<n>.
func TestListenersSameNameAndUnnamed(t *testing.T) {
	a, aAddr := tcpListenerFile(t)
	b, bAddr := tcpListenerFile(t)
	c, cAddr := tcpListenerFile(t)
	got := runActivated(t,
		[]passedFD{{a, "https"}, {b, "https"}, {c, ""}},
		[]dialTo{{"https", aAddr}, {"https", bAddr}, {"LISTEN_FD_5", cAddr}})
	want := fmt.Sprintf("LISTEN_FD_5 %s\nhttps %s\nhttps %s\ndone\n", cAddr, aAddr, bAddr)
	if got != want {
		t.Errorf("child reported\n%s\nwant\n%s", got, want)
	}
}

// A datagram socket passed as "http" is a configuration error, not silence.
func TestListenersNotAListener(t *testing.T) {
	tcpF, _ := tcpListenerFile(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	udpF, err := pc.(*net.UDPConn).File()
	pc.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer udpF.Close()
	got := runActivated(t, []passedFD{{tcpF, "https"}, {udpF, "http"}}, nil)
	if !strings.HasPrefix(got, "error: systemd: socket-activated fd \"http\" is not a stream listener") {
		t.Errorf("child reported %q, want the not-a-listener error", got)
	}
}

func TestListenersNotActivated(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"no environment", map[string]string{"LISTEN_PID": "", "LISTEN_FDS": "", "LISTEN_FDNAMES": ""}},
		// fds meant for another process (a parent that did not unset them)
		{"other pid", map[string]string{"LISTEN_PID": strconv.Itoa(os.Getppid()), "LISTEN_FDS": "2", "LISTEN_FDNAMES": "http:https"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			ls, err := Listeners()
			if err != nil || ls == nil || len(ls) != 0 {
				t.Errorf("Listeners() = %v, %v; want an empty map", ls, err)
			}
		})
	}
}

// tcpListenerFile returns a listening TCP socket on loopback as a file, to
// pass to the child, and its address.
func tcpListenerFile(t *testing.T) (*os.File, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close() // f keeps its own duplicate of the socket open
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, l.Addr().String()
}
