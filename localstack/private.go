package localstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/redis/go-redis/v9"
)

// Redis is a private redis-server on a free loopback port, without
// persistence, owned by one test: FLUSHALL, SIGSTOP or a restart touch
// nobody else.
type Redis struct {
	Port int
	// Args are the extra server arguments (AUTH, TLS, ...) every start uses.
	Args []string
	t    testing.TB
	dir  string
	proc *Proc
}

// StartRedis starts a private redis-server; extra arguments are passed on
// (for example "--requirepass", "secret"), with "{port}" replaced by the
// server's port (for "--port", "0", "--tls-port", "{port}"). It skips when
// redis-server is not installed.
func StartRedis(t testing.TB, args ...string) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		Missing(t, "redis-server")
	}
	r := &Redis{Port: FreePort(t), Args: args, t: t, dir: t.TempDir()}
	r.Start()
	return r
}

// Start (re)starts the server on its port, empty (no persistence), and
// waits until it answers.
func (r *Redis) Start() {
	r.t.Helper()
	args := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(r.Port), "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--daemonize", "no", "--loglevel", "warning"}
	for _, a := range r.Args {
		args = append(args, strings.ReplaceAll(a, "{port}", strconv.Itoa(r.Port)))
	}
	r.proc = Start(r.t, fmt.Sprintf("redis-server:%d", r.Port), nil, "redis-server", args...)
	Poll(r.t, 20*time.Second, "the private redis-server to accept connections", func() bool {
		select {
		case <-r.proc.Done():
			r.t.Fatalf("redis-server exited: %v\n%s%s", r.proc.Err(), r.proc.Stdout(), r.proc.Stderr())
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.Port), time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// URL is redis://127.0.0.1:<port>/0.
func (r *Redis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port) }

// Client returns a client for plain (non-TLS, no AUTH) servers, closed
// when the test ends.
func (r *Redis) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.Port)})
	r.t.Cleanup(func() { c.Close() })
	return c
}

// RedisClient returns a client of the Redis at url, closed when the test
// ends.
func RedisClient(t testing.TB, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// Kill ends the server with SIGKILL and waits for it: everything it held
// is gone.
func (r *Redis) Kill() {
	r.proc.Kill()
	<-r.proc.Done()
}

// Restart kills the server and starts an empty one on the same port, as a
// Redis without persistence comes back after a crash.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Kill()
	r.Start()
}

// Stop freezes the server (SIGSTOP): connections hang, nothing answers.
func (r *Redis) Stop() { syscall.Kill(r.proc.Pid(), syscall.SIGSTOP) }

// Cont resumes a stopped server.
func (r *Redis) Cont() { syscall.Kill(r.proc.Pid(), syscall.SIGCONT) }

// MinIO is a private MinIO server on free loopback ports with its own data
// directory, owned by one test, so that it can be killed and restarted.
type MinIO struct {
	Endpoint  string // http://127.0.0.1:<port>
	AccessKey string
	SecretKey string
	Region    string
	Env       []string // MINIO_* settings added to every start

	t       testing.TB
	bin     string
	port    int
	console int
	data    string
	proc    *Proc
}

// MinIOBinary finds the MinIO server binary that scripts/services.sh
// builds (the version it pins, minio-<MINIO_VERSION>): $FANOUT_MINIO_BIN,
// else in $FANOUT_CACHE_DIR/bin, else in .cache/bin of the repository
// (found above the working directory), else in services.sh's shared cache
// ($XDG_CACHE_HOME or ~/.cache, then fanout/). When services.sh cannot be
// found, the newest minio-* there is taken. It skips (fails when
// required) when there is none. Every test that needs the binary finds it
// here.
func MinIOBinary(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("FANOUT_MINIO_BIN"); b != "" {
		return b
	}
	var dirs []string
	if c := os.Getenv("FANOUT_CACHE_DIR"); c != "" {
		dirs = append(dirs, filepath.Join(c, "bin"))
	}
	root := repoRoot()
	if root != "" {
		dirs = append(dirs, filepath.Join(root, ".cache", "bin"))
	}
	shared := os.Getenv("XDG_CACHE_HOME")
	if home, err := os.UserHomeDir(); shared == "" && err == nil {
		shared = filepath.Join(home, ".cache")
	}
	if shared != "" {
		dirs = append(dirs, filepath.Join(shared, "fanout"))
	}
	name := "minio-*"
	if v := pinnedMinIOVersion(root); v != "" {
		name = "minio-" + v
	}
	for _, d := range dirs {
		m, _ := filepath.Glob(filepath.Join(d, name))
		sort.Strings(m)
		for i := len(m) - 1; i >= 0; i-- {
			if st, err := os.Stat(m[i]); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
				return m[i]
			}
		}
	}
	Missing(t, "the MinIO binary "+name+" (scripts/services.sh builds it into .cache/bin)")
	return ""
}

// repoRoot returns the nearest directory above the working directory that
// holds scripts/services.sh, or "".
func repoRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "scripts", "services.sh")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

var minioVersionLine = regexp.MustCompile(`(?m)^MINIO_VERSION="([^"]+)"`)

// pinnedMinIOVersion returns the MINIO_VERSION scripts/services.sh pins,
// or "" when root is unknown.
func pinnedMinIOVersion(root string) string {
	if root == "" {
		return ""
	}
	script, err := os.ReadFile(filepath.Join(root, "scripts", "services.sh"))
	if err != nil {
		return ""
	}
	if m := minioVersionLine.FindSubmatch(script); m != nil {
		return string(m[1])
	}
	return ""
}

// StartMinIO starts a private MinIO server and waits until it serves
// requests. env are MINIO_* settings added to its environment.
func StartMinIO(t testing.TB, env ...string) *MinIO {
	t.Helper()
	m := NewMinIO(t, env...)
	m.Start()
	return m
}

// NewMinIO returns a private MinIO server's settings (free ports, fresh
// credentials, an empty data directory) without starting it, for a test
// that must hand the endpoint to another process first; Start starts it.
func NewMinIO(t testing.TB, env ...string) *MinIO {
	t.Helper()
	m := &MinIO{AccessKey: "faultadmin", SecretKey: "fault-test-secret-" + randomHex(8), Region: "us-east-1",
		Env: env, t: t, bin: MinIOBinary(t), port: FreePort(t), console: FreePort(t), data: t.TempDir()}
	m.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", m.port)
	return m
}

// Start (re)starts the server on its ports and data directory.
func (m *MinIO) Start() {
	m.t.Helper()
	env := append(os.Environ(), "MINIO_ROOT_USER="+m.AccessKey, "MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CALLHOME_ENABLE=off")
	env = append(env, m.Env...)
	m.proc = Start(m.t, fmt.Sprintf("minio:%d", m.port), env, m.bin, "server", m.data, "--quiet",
		"--address", fmt.Sprintf("127.0.0.1:%d", m.port), "--console-address", fmt.Sprintf("127.0.0.1:%d", m.console))
	client := m.Client()
	Poll(m.t, 60*time.Second, "the private MinIO to serve requests", func() bool {
		select {
		case <-m.proc.Done():
			m.t.Fatalf("minio exited: %v\n%s", m.proc.Err(), m.proc.Stderr())
		default:
		}
		resp, err := http.Get(m.Endpoint + "/minio/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = client.ListBuckets(ctx)
		return err == nil
	})
}

// Client returns a minio-go client of the server.
func (m *MinIO) Client() *minio.Client {
	u, _ := url.Parse(m.Endpoint)
	c, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, ""),
		Region: m.Region, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		m.t.Fatal(err)
	}
	return c
}

// MakeBucket creates a bucket.
func (m *MinIO) MakeBucket(name string) {
	m.t.Helper()
	if err := m.Client().MakeBucket(context.Background(), name, minio.MakeBucketOptions{Region: m.Region}); err != nil {
		m.t.Fatalf("make bucket %s: %v", name, err)
	}
}

// Kill ends the server with SIGKILL and waits for it.
func (m *MinIO) Kill() {
	m.proc.Kill()
	<-m.proc.Done()
}

// Restart kills the server and starts it again on the same data.
func (m *MinIO) Restart() {
	m.t.Helper()
	m.Kill()
	m.Start()
}

// AWSEnv returns the environment variables that point fanout at endpoint
// (the server's or a proxy's) with the server's credentials.
func (m *MinIO) AWSEnv(endpoint string) []string {
	if endpoint == "" {
		endpoint = m.Endpoint
	}
	return []string{"AWS_ENDPOINT_URL_S3=" + endpoint, "AWS_ACCESS_KEY_ID=" + m.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + m.SecretKey, "AWS_REGION=" + m.Region}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
