package localstack

import (
	"os/exec"
	"strings"
	"testing"
)

// TestServicesUpIsIdempotent runs `scripts/services.sh up` against the
// running services: it must reuse them (same processes) and print the
// same export lines as `env`.
func TestServicesUpIsIdempotent(t *testing.T) {
	S3(t)
	RedisURL(t)
	status := func() string {
		out, err := exec.Command("../scripts/services.sh", "status").Output()
		if err != nil {
			t.Fatalf("services.sh status: %v", err)
		}
		return string(out)
	}
	before := status()
	if !strings.Contains(before, "minio running") || !strings.Contains(before, "redis running") {
		t.Skipf("services were not started by scripts/services.sh (status: %q); run scripts/test.sh", before)
	}
	up, err := exec.Command("../scripts/services.sh", "up").Output()
	if err != nil {
		t.Fatalf("second services.sh up: %v", err)
	}
	env, err := exec.Command("../scripts/services.sh", "env").Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(up) != string(env) {
		t.Errorf("up printed %q, env printed %q", up, env)
	}
	for _, name := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "FANOUT_REDIS_URL"} {
		if !strings.Contains(string(up), "export "+name+"=") {
			t.Errorf("up output lacks export %s: %q", name, up)
		}
	}
	if after := status(); after != before {
		t.Errorf("a second up changed the services: before %q, after %q", before, after)
	}
}
