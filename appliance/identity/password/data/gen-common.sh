#!/bin/sh
# Regenerates common.txt from Debian's python3-django package, which ships
# Django's list of 20,000 common passwords (lowercased, deduplicated; made
# by Royce Williams from breach corpora). Sorted bytewise for the binary
# search in ../common.go. Run from this directory; needs apt-get.
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download python3-django >/dev/null && dpkg-deb -x python3-django_*.deb x)
zcat "$tmp"/x/usr/lib/python3/dist-packages/django/contrib/auth/common-passwords.txt.gz |
	LC_ALL=C sort -u >common.txt
dpkg-deb -f "$tmp"/python3-django_*.deb Version >common.version
