#!/bin/sh
# check-units.sh — lint clinicbox's systemd units the way CI does.
#
# Usage: systemd/check-units.sh PATH-TO-CLINICBOX-BINARY   (the Makefile passes bin/clinicbox)
#
# `systemd-analyze verify` insists that ExecStart= names an existing
# executable, so the units are copied to a temporary directory and ExecStart=
# is pointed at the given binary. Then:
#   1. systemd-analyze verify on the service and both sockets; any warning
#      about a clinicbox unit (unknown key, bad value, missing service) fails;
#   2. systemd-analyze security --offline=yes --threshold=20: the exposure
#      score must be <= 2.0 (the threshold is the score times ten);
#   3. systemd-sysusers and systemd-tmpfiles run against a scratch root to
#      check clinicbox.sysusers and clinicbox.tmpfiles.
# Exits non-zero on any problem. systemd need not be PID 1.
set -eu

# Highest acceptable exposure, times ten (systemd-analyze's internal scale).
THRESHOLD=20

if [ $# -ne 1 ]; then
	echo "usage: $0 PATH-TO-CLINICBOX-BINARY" >&2
	exit 2
fi
bin=$(realpath -- "$1") || { echo "check-units: $1: not found" >&2; exit 2; }
if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
	echo "check-units: $bin: not an executable file" >&2
	exit 2
fi
case $bin in
*[[:space:]\\\"\'%\$]*)
	echo "check-units: $bin: path must not contain spaces, quotes, % or \$" >&2
	exit 2
	;;
esac

src=$(cd -- "$(dirname -- "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT
units="clinicbox.service clinicbox-http.socket clinicbox-https.socket"
for u in $units; do
	cp -- "$src/$u" "$tmp/$u"
done

# Point ExecStart= at the real binary, keeping its arguments.
awk -v bin="$bin" '
	/^ExecStart=\/usr\/bin\/clinicbox( |$)/ { sub(/^ExecStart=\/usr\/bin\/clinicbox/, "ExecStart=" bin); n++ }
	{ print }
	END { if (n != 1) { print "check-units: expected one ExecStart=/usr/bin/clinicbox line, found " n > "/dev/stderr"; exit 1 } }
' "$src/clinicbox.service" >"$tmp/clinicbox.service"

fail=0

echo "== systemd-analyze verify"
cd "$tmp"
# verify exits 0 on unknown or ignored keys and only warns, so its output is
# checked too. Warnings about units other than ours (host configuration pulled
# in as dependencies) are shown but do not fail the check.
if ! systemd-analyze verify --man=no --recursive-errors=no \
	./clinicbox.service ./clinicbox-http.socket ./clinicbox-https.socket >"$tmp/verify.log" 2>&1; then
	fail=1
fi
cat "$tmp/verify.log"
if grep -q clinicbox "$tmp/verify.log"; then
	fail=1
fi
[ $fail -eq 0 ] && echo "verify: OK"

echo "== systemd-analyze security --offline=yes --threshold=$THRESHOLD clinicbox.service"
rc=0
systemd-analyze security --offline=yes --threshold="$THRESHOLD" ./clinicbox.service >"$tmp/security.log" 2>&1 || rc=$?
# Show only what is not fully mitigated, and the score.
grep -v '✓' "$tmp/security.log" || true
if [ $rc -ne 0 ]; then
	echo "security: exposure above $THRESHOLD/10 or error (exit $rc)" >&2
	fail=1
fi
if ! grep -q 'Overall exposure level for clinicbox.service' "$tmp/security.log"; then
	echo "security: no exposure level reported" >&2
	fail=1
fi
cd "$src"

echo "== systemd-sysusers / systemd-tmpfiles (scratch root)"
root="$tmp/root"
mkdir -p "$root/etc"
if systemd-sysusers --root="$root" "$src/clinicbox.sysusers" &&
	grep -q '^clinicbox:' "$root/etc/passwd" &&
	grep -q '^clinicbox:' "$root/etc/group"; then
	echo "sysusers: OK"
else
	echo "sysusers: clinicbox.sysusers did not create user and group clinicbox" >&2
	fail=1
fi
# systemd-tmpfiles needs root to chown; without it, only parse the file.
if [ "$(id -u)" -eq 0 ]; then
	if systemd-tmpfiles --root="$root" --create "$src/clinicbox.tmpfiles" &&
		[ "$(stat -c '%a %u' "$root/var/lib/clinicbox")" = "700 $(awk -F: '$1 == "clinicbox" { print $3 }' "$root/etc/passwd")" ]; then
		echo "tmpfiles: OK"
	else
		echo "tmpfiles: clinicbox.tmpfiles did not create /var/lib/clinicbox 0700 clinicbox" >&2
		fail=1
	fi
else
	if systemd-tmpfiles --root="$root" --cat-config "$src/clinicbox.tmpfiles" >/dev/null; then
		echo "tmpfiles: parsed (not root: not applied)"
	else
		fail=1
	fi
fi

if [ $fail -ne 0 ]; then
	echo "check-units: FAILED" >&2
	exit 1
fi
echo "check-units: OK"
