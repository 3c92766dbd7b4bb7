// Package testenv lets tests that need a tool from the machine (chromium,
// promtool, systemd-analyze, coturn's clients) skip cleanly on a developer's
// machine without it, while CI (CLINICBOX_STRICT_TESTS=1) fails instead, so
// that a green CI run means every suite really ran.
package testenv

import (
	"os"
	"testing"
)

// Require skips the test when ok is false and the tool is missing, or
// fails it under CLINICBOX_STRICT_TESTS=1.
func Require(t testing.TB, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CLINICBOX_STRICT_TESTS") == "1" {
		t.Fatalf("missing %s (CLINICBOX_STRICT_TESTS=1 requires every suite to run)", what)
	}
	t.Skipf("skipped: missing %s", what)
}
