package main

import (
	_ "github.com/caddyserver/certmagic"
	_ "github.com/chromedp/chromedp"
	_ "github.com/coreos/go-systemd/v22/daemon"
	_ "github.com/letsencrypt/challtestsrv"
	_ "github.com/letsencrypt/pebble/v2/ca"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "go.etcd.io/bbolt"
)

func main() {}
