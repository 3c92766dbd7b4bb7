package systemd

import (
	"os"
	"os/exec"
	"testing"

	"clinicbox/internal/testenv"
)

// TestUnits runs check-units.sh: systemd-analyze verify on the units and
// `systemd-analyze security` with exposure at most 2.0. systemd-analyze
// only needs ExecStart= to point at an executable, so the test binary
// stands in for clinicbox (CI also runs the script on the real binary).
func TestUnits(t *testing.T) {
	_, err := exec.LookPath("systemd-analyze")
	testenv.Require(t, err == nil, "systemd-analyze (apt-get install systemd)")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("./check-units.sh", exe).CombinedOutput()
	if err != nil {
		t.Fatalf("check-units.sh: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
