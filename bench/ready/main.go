// Command ready measures how long `clinicbox serve` takes from exec to
// READY=1 (sd_notify, the moment systemd considers it started) and its
// resident memory when idle. It plays systemd's part: a NOTIFY_SOCKET.
//
//	go run ./bench/ready -bin bin/clinicbox -runs 20
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("bin", "bin/clinicbox", "the clinicbox binary")
	runs := flag.Int("runs", 20, "starts to measure (after one warm-up start that creates the data dir)")
	idle := flag.Duration("idle", 3*time.Second, "how long to wait before reading idle RSS")
	flag.Parse()

	dir, err := os.MkdirTemp("", "clinicbox-ready-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	var times []time.Duration
	var rss []int
	for i := 0; i <= *runs; i++ {
		d, kb := start(*bin, dir, sock, conn, i == *runs, *idle)
		if i == 0 {
			continue // the first start creates the CA and the database: not a warm start
		}
		times = append(times, d)
		if kb > 0 {
			rss = append(rss, kb)
		}
	}
	sort.Slice(times, func(a, b int) bool { return times[a] < times[b] })
	fmt.Printf("start to READY (warm data dir, internal CA), %d runs: min %v, median %v, p90 %v, max %v\n",
		len(times), ms(times[0]), ms(times[len(times)/2]), ms(times[len(times)*9/10]), ms(times[len(times)-1]))
	for _, kb := range rss {
		fmt.Printf("idle RSS after %v: %.1f MiB\n", *idle, float64(kb)/1024)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func start(bin, dir, sock string, conn *net.UnixConn, measureRSS bool, idle time.Duration) (time.Duration, int) {
	cmd := exec.Command(bin, "serve", "--data-dir", filepath.Join(dir, "data"),
		"--https-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
		"--turn-addr", "127.0.0.1:0", "--hostname", "localhost,127.0.0.1", "--log-format", "text", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	cmd.Stderr = os.Stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 4096)
	var ready time.Duration
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for ready == 0 {
		n, err := conn.Read(buf)
		if err != nil {
			log.Fatalf("waiting for READY=1: %v", err)
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			if line == "READY=1" {
				ready = time.Since(t0)
			}
		}
	}
	kb := 0
	if measureRSS {
		time.Sleep(idle)
		kb = vmRSS(cmd.Process.Pid)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	return ready, kb
}

func vmRSS(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb
		}
	}
	return 0
}
