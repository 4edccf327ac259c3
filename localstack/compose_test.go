package localstack

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestComposeMatchesServicesScript keeps docker-compose.yml equivalent to
// scripts/services.sh: same ports on loopback, same credentials, Redis
// without persistence.
func TestComposeMatchesServicesScript(t *testing.T) {
	script, err := os.ReadFile("../scripts/services.sh")
	if err != nil {
		t.Fatal(err)
	}
	setting := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `="(?:\$\{[A-Z_]+:-)?([^"}]+)\}?"`).FindSubmatch(script)
		if m == nil {
			t.Fatalf("services.sh has no %s=", name)
		}
		return string(m[1])
	}
	minioPort, redisPort := setting("minio_port"), setting("redis_port")
	user, password := setting("minio_user"), setting("minio_password")

	raw, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	minio, ok := compose.Services["minio"]
	if !ok {
		t.Fatal("docker-compose.yml has no minio service")
	}
	if got := minio.Environment["MINIO_ROOT_USER"]; got != user {
		t.Errorf("compose MINIO_ROOT_USER = %q, want %q", got, user)
	}
	if got := minio.Environment["MINIO_ROOT_PASSWORD"]; got != password {
		t.Errorf("compose MINIO_ROOT_PASSWORD = %q, want %q", got, password)
	}
	if !contains(minio.Ports, "127.0.0.1:"+minioPort+":9000") {
		t.Errorf("compose minio ports %v, want 127.0.0.1:%s:9000", minio.Ports, minioPort)
	}
	redis, ok := compose.Services["redis"]
	if !ok {
		t.Fatal("docker-compose.yml has no redis service")
	}
	if !contains(redis.Ports, "127.0.0.1:"+redisPort+":6379") {
		t.Errorf("compose redis ports %v, want 127.0.0.1:%s:6379", redis.Ports, redisPort)
	}
	if cmd := strings.Join(redis.Command, " "); !strings.Contains(cmd, "--appendonly no") {
		t.Errorf("compose redis command %q, want persistence off like services.sh", cmd)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
