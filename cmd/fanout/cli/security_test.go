package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/redisqueue"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/manifest"
)

// redisACLArgs makes a private Redis whose default user is off and whose
// only user, fanout, may touch keys under "fanout:" and nothing dangerous
// (no FLUSHALL, KEYS, CONFIG, DEBUG, ...): what a shared Redis would give
// fanout.
func redisACLArgs(password string) []string {
	return []string{"--user", "default", "off", "--user", "fanout", "on", ">" + password, "~fanout:*", "&*", "+@all", "-@dangerous"}
}

// aclClient is an admin-less client of such a Redis, as the fanout user.
func aclClient(t *testing.T, r *localstack.Redis, password string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: net.JoinHostPort("127.0.0.1", itoa(r.Port)), Username: "fanout", Password: password})
	t.Cleanup(func() { c.Close() })
	return c
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestSecretsNeverInLogsOrState runs whole jobs (a good one, a failing
// one, bad credentials for S3 and Redis) with verbose logs on a private
// MinIO with a secret key of its own and a Redis whose only user has a
// password and may touch only fanout's keys, and scans everything every
// process printed, every key in Redis and every object fanout wrote for
// the secret key and the passwords.
func TestSecretsNeverInLogsOrState(t *testing.T) {
	m := localstack.StartMinIO(t)
	const redisPassword = "redis-pw-4f1d2c9b7e"
	rs := localstack.StartRedis(t, redisACLArgs(redisPassword)...)
	redisURL := "redis://fanout:" + redisPassword + "@127.0.0.1:" + itoa(rs.Port) + "/0"
	j := newFaultJob(t, faultSetup{minio: m, redisURL: redisURL})
	var outputs []*localstack.Proc
	run := func(name string, env []string, args ...string) *localstack.Proc {
		p := localstack.Start(t, name, env, fanoutBinary(t), args...)
		outputs = append(outputs, p)
		return p
	}
	// execToken is a secret an operator hands exec's programs on purpose
	// (--exec-env): what they print of it is redacted.
	const webhookSecret, execToken = "webhook-s3cr3t-2b7d", "exec-t0ken-5e8a91"
	env := append(j.env(""), "FANOUT_WEBHOOK_SECRET="+webhookSecret, "FANOUT_TEST_TOKEN="+execToken)
	// Help of every command, with every secret in the environment: a flag
	// whose default came from a secret variable would print it.
	for _, c := range newRootCommand(nil, nil, builtin.Registry(), "fanout").Commands() {
		p := run("help-"+c.Name(), env, c.Name(), "--help")
		if err := p.Wait(t, time.Minute); err != nil {
			t.Errorf("%s --help: %v\n%s", c.Name(), err, p.Stderr())
		}
		if c.Name() == "serve" && !strings.Contains(p.Stdout(), "$FANOUT_WEBHOOK_SECRET") {
			t.Errorf("serve --help does not name $FANOUT_WEBHOOK_SECRET:\n%s", p.Stdout())
		}
	}
	if help := run("help", env, "--help"); help.Wait(t, time.Minute) != nil || !strings.Contains(help.Stdout(), "$FANOUT_REDIS_URL") {
		t.Errorf("fanout --help does not name $FANOUT_REDIS_URL:\n%s", help.Stdout())
	}
	// A good job through submit, two workers, wait, status and resume.
	submit := run("submit", env, append([]string{"submit", "-v", "--json"}, j.jobArgs()...)...)
	if err := submit.Wait(t, time.Minute); err != nil {
		t.Fatalf("submit: %v\n%s", err, submit.Stderr())
	}
	job := jobOf(t, submit.Stdout())
	w1 := run("worker-1", env, "work", "-v", "--concurrency", "2", "--exec-env", "FANOUT_TEST_TOKEN", "--allow-exec-any")
	w2 := run("worker-2", env, "work", "-v", "--concurrency", "2", "--exec-env", "FANOUT_TEST_TOKEN", "--allow-exec-any")
	wait := run("wait", env, "wait", job, "-v", "--json")
	if err := wait.Wait(t, 2*time.Minute); err != nil || !strings.Contains(wait.Stdout(), `"committed"`) {
		t.Fatalf("wait: %v\n%s\n%s", err, wait.Stdout(), wait.Stderr())
	}
	for _, args := range [][]string{{"status", job, "--out", j.out(), "-v", "--json"}, {"resume", job, "--out", j.out(), "-v"}} {
		p := run(args[0], env, args...)
		p.Wait(t, time.Minute)
	}
	// A job that fails (every chunk's program prints its environment to
	// stderr and exits 1), logged verbosely: the environment holds no
	// secret, and its stderr lands in failed markers and --json.
	fail := run("run-failing", env, "run", "-v", "--json", "--in", "s3://"+j.bucket+"/in/", "--fn", "exec", "--arg", "shell=true",
		"--arg", "cmd=env >&2; exit 1", "--out", "s3://"+j.bucket+"/failed/", "--max-attempts", "1", "--workers", "2")
	if err := fail.Wait(t, 2*time.Minute); err == nil {
		t.Fatal("the failing job succeeded")
	}
	if !strings.Contains(fail.Stdout(), "PATH=") {
		t.Errorf("run-failing --json does not show the program's stderr (its environment):\n%s", fail.Stdout())
	}
	// The same through the workers, whose programs get FANOUT_TEST_TOKEN
	// and print it: the dead letters in Redis, the failed markers and
	// wait --json hold it redacted.
	submitFail := run("submit-failing", env, "submit", "--json", "--in", "s3://"+j.bucket+"/in/", "--fn", "exec", "--arg", "shell=true",
		"--arg", `cmd=env >&2; echo "token=$FANOUT_TEST_TOKEN" >&2; exit 1`, "--out", "s3://"+j.bucket+"/failed-work/", "--max-attempts", "1")
	if err := submitFail.Wait(t, time.Minute); err != nil {
		t.Fatalf("submit-failing: %v\n%s", err, submitFail.Stderr())
	}
	failJob := jobOf(t, submitFail.Stdout())
	q, err := redisqueue.New(context.Background(), redisqueue.Config{URL: redisURL, Prefix: "fanout"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var dead []fanout.DeadLetter
	for deadline := time.Now().Add(2 * time.Minute); len(dead) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if dead, err = q.DeadLetters(context.Background(), failJob); err != nil {
			t.Fatal(err)
		}
	}
	if len(dead) == 0 || !strings.Contains(dead[0].Reason, "token=[redacted]") {
		t.Errorf("dead letters %+v: want a reason showing token=[redacted]", dead)
	}
	waitFail := run("wait-failing", env, "wait", failJob, "--json")
	if err := waitFail.Wait(t, 2*time.Minute); err == nil || !strings.Contains(waitFail.Stdout(), "token=[redacted]") {
		t.Errorf("wait-failing: %v; want a failure showing token=[redacted]:\n%s", err, waitFail.Stdout())
	}
	// Wrong credentials: the errors must not echo them.
	const wrongS3, wrongRedis = "wrong-s3-secret-93e1", "wrong-redis-pw-77ab"
	badS3 := append(j.env(""), "AWS_SECRET_ACCESS_KEY="+wrongS3)
	badRedis := append(j.env(""), "FANOUT_REDIS_URL=redis://fanout:"+wrongRedis+"@127.0.0.1:"+itoa(rs.Port)+"/0")
	for _, bad := range []struct {
		name, says string
		env        []string
	}{{"bad-s3-secret", "signature we calculated does not match", badS3}, {"bad-redis-password", "AUTH failed", badRedis}} {
		p := run(bad.name, bad.env, append([]string{"run", "-v", "--json", "--workers", "1", "--rerun"}, j.jobArgs()...)...)
		if err := p.Wait(t, 2*time.Minute); err == nil {
			t.Errorf("%s: the run succeeded", bad.name)
		}
		if !strings.Contains(p.Stdout()+p.Stderr(), bad.says) {
			t.Errorf("%s: the error does not say %q:\n%s%s", bad.name, bad.says, p.Stdout(), p.Stderr())
		}
	}
	for _, w := range []*localstack.Proc{w1, w2} {
		stopWorker(t, w)
	}

	secrets := []string{m.SecretKey, redisPassword, wrongS3, wrongRedis, webhookSecret, execToken}
	scan := func(where, text string) {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s holds a secret (%.4s...)", where, s)
			}
		}
	}
	for _, d := range dead {
		scan("dead letter of "+d.Chunk, d.Reason)
	}
	var printed int
	for _, p := range outputs {
		scan(p.Name+" stdout", p.Stdout())
		scan(p.Name+" stderr", p.Stderr())
		printed += len(p.Stdout()) + len(p.Stderr())
	}
	// Everything fanout keeps in Redis.
	c := aclClient(t, rs, redisPassword)
	ctx := context.Background()
	keys, err := c.Keys(ctx, "fanout:*").Result()
	if err == nil {
		t.Fatal("the fanout user may run KEYS, want -@dangerous to refuse it")
	}
	iter := c.Scan(ctx, 0, "fanout:*", 100).Iterator()
	keys = nil
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	for _, k := range keys {
		dump, err := c.Dump(ctx, k).Result()
		if err == nil {
			scan("Redis key "+k, k+dump)
		}
	}
	// Everything fanout wrote to the bucket.
	var objects, redactedMarkers int
	for info, err := range j.store.List(ctx, "", nil) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(info.Key, "in/") {
			continue
		}
		rc, _, err := j.store.Get(ctx, info.Key, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		scan("object "+info.Key, info.Key+string(body))
		if strings.HasPrefix(info.Key, "failed-work/_fanout/") && strings.Contains(info.Key, "/chunks/") {
			redactedMarkers += strings.Count(string(body), "token=[redacted]")
		}
		objects++
	}
	if redactedMarkers == 0 {
		t.Error("no failed marker of the workers' failing job shows token=[redacted]")
	}
	t.Logf("scanned %d bytes printed by %d processes, %d Redis keys, %d objects: no secret", printed, len(outputs), len(keys), objects)
}

func jobOf(t *testing.T, stdout string) string {
	t.Helper()
	i := strings.Index(stdout, `"job": "`)
	if i < 0 {
		t.Fatalf("no job in %s", stdout)
	}
	rest := stdout[i+len(`"job": "`):]
	return rest[:strings.IndexByte(rest, '"')]
}

// TestRedisACLUserWithOnlyItsKeys runs a job with workers through a Redis
// whose only user may touch nothing but keys under fanout's prefix and no
// dangerous command: fanout needs no more.
func TestRedisACLUserWithOnlyItsKeys(t *testing.T) {
	const password = "acl-pw-5b0e"
	rs := localstack.StartRedis(t, redisACLArgs(password)...)
	j := newFaultJob(t, faultSetup{redisURL: "redis://fanout:" + password + "@127.0.0.1:" + itoa(rs.Port) + "/0"})
	j.submit()
	j.worker("worker", "", 2)
	j.committed(j.driver(""), 2*time.Minute)
	j.check()
	// A prefix outside the user's keys is refused with a clear error.
	env := append(j.env(""), "FANOUT_REDIS_PREFIX=other")
	_, stderr, err := localstack.Run(context.Background(), env, fanoutBinary(t), "submit", "--in", "s3://"+j.bucket+"/in/", "--fn", "convert",
		"--out", "s3://"+j.bucket+"/other/", "--out-format", "jsonl")
	if err == nil || !strings.Contains(stderr, "NOPERM") {
		t.Errorf("a prefix outside the ACL: %v %s; want a NOPERM error", err, stderr)
	}
}

// TestRedisOverTLS runs a job through a Redis that speaks only TLS
// (rediss://), with its certificate signed by a throwaway CA given to
// fanout as SSL_CERT_FILE; without the CA the connection is refused with a
// certificate error, never downgraded.
func TestRedisOverTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTestCA(t, dir)
	const password = "tls-pw-c41a"
	rs := localstack.StartRedis(t, "--port", "0", "--tls-port", "{port}", "--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--tls-ca-cert-file", caFile, "--tls-auth-clients", "no", "--requirepass", password)
	url := "rediss://:" + password + "@127.0.0.1:" + itoa(rs.Port) + "/0"
	j := newFaultJob(t, faultSetup{redisURL: url})
	env := append(j.env(""), "SSL_CERT_FILE="+caFile)
	res := runFanout(t, env, append([]string{"run", "--workers", "2", "--json", "--quiet"}, j.jobArgs()...)...)
	j.job, j.chunks = res.Job, res.Chunks
	if res.State != "committed" {
		t.Fatalf("run over TLS: %+v", res)
	}
	j.check()
	// Without the CA: a certificate error. Plain redis:// to the TLS port:
	// an error, not a hang.
	for name, env := range map[string][]string{
		"unknown CA":   j.env(""),
		"plain to TLS": append(j.env(""), "FANOUT_REDIS_URL=redis://:"+password+"@127.0.0.1:"+itoa(rs.Port)+"/0"),
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, stderr, err := localstack.Run(ctx, env, fanoutBinary(t), "resume", j.job, "--out", j.out())
		timedOut := ctx.Err() != nil
		cancel()
		if err == nil || timedOut || strings.Contains(stderr, password) {
			t.Errorf("%s: %v %s; want a prompt error without the password", name, err, stderr)
		}
		if name == "unknown CA" && !strings.Contains(stderr, "certificate") {
			t.Errorf("%s: %s; want a certificate error", name, stderr)
		}
	}
}

// writeTestCA writes a throwaway CA and a server certificate for
// 127.0.0.1 and localhost signed by it (for client use as well), valid
// for an hour.
func writeTestCA(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, srvKey := newKey(), newKey()
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fanout test CA"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srv := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		// ClientAuth too: a TLS cluster's nodes present it to each
		// other on the cluster bus, which always asks for one.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.crt", "CERTIFICATE", caDER), write("server.crt", "CERTIFICATE", srvDER), write("server.key", "EC PRIVATE KEY", keyDER)
}

// TestOutputsEncryptedServerSide runs a job with --sse kms:KEY on a
// private MinIO with a static KMS key: every object the job wrote (data
// files, markers, manifest, commit record, _SUCCESS) is stored encrypted
// with that key; and a bad --sse value is refused before anything runs.
func TestOutputsEncryptedServerSide(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	m := localstack.StartMinIO(t, "MINIO_KMS_SECRET_KEY=fanout-test-key:"+base64.StdEncoding.EncodeToString(key))
	j := newFaultJob(t, faultSetup{minio: m})
	res := runFanout(t, j.env(""), append([]string{"run", "--sse", "kms:fanout-test-key", "--workers", "2", "--json", "--quiet"}, j.jobArgs()...)...)
	if res.State != "committed" {
		t.Fatalf("run: %+v", res)
	}
	j.job = res.Job
	j.check()
	client := m.Client()
	n := 0
	for obj := range client.ListObjects(context.Background(), j.bucket, minio.ListObjectsOptions{Prefix: "out/", Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		st, err := client.StatObject(context.Background(), j.bucket, obj.Key, minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Metadata.Get("X-Amz-Server-Side-Encryption"); got != "aws:kms" ||
			!strings.Contains(st.Metadata.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"), "fanout-test-key") {
			t.Errorf("%s: stored with encryption %q key %q, want aws:kms with fanout-test-key", obj.Key, got,
				st.Metadata.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"))
		}
		n++
	}
	_, stderr, err := localstack.Run(context.Background(), j.env(""), fanoutBinary(t), append([]string{"run", "--sse", "rot13"}, j.jobArgs()...)...)
	if err == nil || !strings.Contains(stderr, "--sse") {
		t.Errorf("--sse rot13: %v %s; want a refusal", err, stderr)
	}
	t.Logf("%d objects written, all encrypted with SSE-KMS", n)
}

// TestRedisWriteAccessDoesNotRunCommands reproduces finding 1 of issue
// 21: someone who can write to fanout's Redis keys and to an input prefix
// places a job there (its manifest names exec with sh -c 'id > PWNED')
// and enqueues its chunks by hand in the workers' queue. A worker serving
// the output base s3://bucket/out/, and one that checks spec signatures,
// release its chunks without running them and say why, while they run
// the jobs they are configured for; only a worker told to serve that
// prefix and to run any command runs it (the reproduction itself).
func TestRedisWriteAccessDoesNotRunCommands(t *testing.T) {
	j := newFaultJob(t, faultSetup{})
	ctx := context.Background()
	pwned := filepath.Join(t.TempDir(), "PWNED")
	const specKey = "spec-key-for-the-test-6c1f"

	// The attacker plans the job under in/evil/ with a namespace of its
	// own, then writes the workers' queue keys by hand.
	attackerEnv := append(j.env(""), "FANOUT_REDIS_PREFIX="+j.prefix+"-attacker")
	stdout, stderr, err := localstack.Run(ctx, attackerEnv, fanoutBinary(t), "submit", "--json", "--in", "s3://"+j.bucket+"/in/",
		"--fn", "exec", "--arg", "shell=true", "--arg", "cmd=id > "+pwned+"; cat", "--out", "s3://"+j.bucket+"/in/evil/",
		"--out-format", "lines", "--lease", "5s")
	if err != nil {
		t.Fatalf("planning the attacker's job: %v\n%s%s", err, stdout, stderr)
	}
	var planned struct {
		Job    string `json:"job"`
		Chunks int    `json:"chunks"`
	}
	if err := json.Unmarshal([]byte(stdout), &planned); err != nil || planned.Chunks == 0 {
		t.Fatalf("submit --json: %v %s", err, stdout)
	}
	q, err := redisqueue.New(ctx, redisqueue.Config{URL: j.redisURL, Prefix: j.prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	chunks := make([]string, planned.Chunks)
	for i := range chunks {
		chunks[i] = manifest.ChunkID(i)
	}
	evil := fanout.JobQueueSpec{Job: planned.Job, Manifest: "s3://" + j.bucket + "/in/evil/_fanout/" + planned.Job + "/manifest.json",
		Lease: 5 * time.Second, MaxDeliveries: 1000, MaxFailures: 1, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond}
	if err := q.Enqueue(ctx, evil, chunks); err != nil {
		t.Fatal(err)
	}

	// refused waits until a worker logs that it refuses the job, then
	// checks that nothing ran: no PWNED, no chunk failed or done.
	refused := func(w *localstack.Proc, says string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !strings.Contains(w.Stderr(), "refusing a job") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !strings.Contains(w.Stderr(), planned.Job) || !strings.Contains(w.Stderr(), says) {
			t.Fatalf("%s does not say it refuses job %s because %q:\n%s", w.Name, planned.Job, says, w.Stderr())
		}
		if _, err := os.Stat(pwned); err == nil {
			t.Fatalf("%s ran the attacker's command", w.Name)
		}
		st, err := q.Stats(ctx, planned.Job)
		if err != nil || st.Dead+st.Done != 0 || st.Pending+st.Running != planned.Chunks {
			t.Errorf("the attacker's job after %s: %+v, %v; want its %d chunks pending or running, none failed or done", w.Name, st, err, planned.Chunks)
		}
	}

	// A worker with an output base runs the job under out/ and refuses
	// the attacker's.
	j.submit()
	byBase := localstack.Start(t, "worker-out-base", j.env(""), fanoutBinary(t), "work", "--concurrency", "2", "--out-base", j.out())
	j.committed(j.driver(""), 2*time.Minute)
	j.check()
	refused(byBase, "lies under no output base")
	stopWorker(t, byBase)

	// A worker with the spec key and no output base runs a signed job
	// and refuses the unsigned one.
	keyEnv := append(j.env(""), "FANOUT_SPEC_KEY="+specKey)
	res := runFanout(t, keyEnv, "submit", "--json", "--in", "s3://"+j.bucket+"/in/", "--fn", "convert", "--out", "s3://"+j.bucket+"/signed/",
		"--out-format", "jsonl")
	byKey := localstack.Start(t, "worker-spec-key", append(slices.Clone(keyEnv), "FANOUT_OUT_BASES="), fanoutBinary(t), "work", "--concurrency", "2")
	waitSigned := localstack.Start(t, "wait-signed", keyEnv, fanoutBinary(t), "wait", res.Job, "--json", "--quiet")
	j.committed(waitSigned, 2*time.Minute)
	refused(byKey, "not signed")
	stopWorker(t, byKey)

	// Without either, a worker refuses to start.
	_, stderr, err = localstack.Run(ctx, append(j.env(""), "FANOUT_OUT_BASES="), fanoutBinary(t), "work")
	if err == nil || !strings.Contains(stderr, "--out-base") {
		t.Errorf("work without an output base or a spec key: %v %s; want a refusal naming --out-base", err, stderr)
	}

	// The reproduction: a worker told to serve in/evil/ and to run any
	// command runs it.
	open := localstack.Start(t, "worker-any", j.env(""), fanoutBinary(t), "work", "--out-base", "s3://"+j.bucket+"/in/evil/", "--allow-exec-any")
	defer stopWorker(t, open)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(pwned); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("a worker allowed to run the attacker's job did not run it: the reproduction is broken\n%s", open.Stderr())
}

// TestServeWebhookLimits reproduces finding 7 of issue 21 against the
// binary: an authenticated request of many tiny records, a body past
// --max-body and more requests at once than --max-requests are refused
// (413, 413, 503) while serve stays up, and with --tls-cert/--tls-key
// the webhook speaks only HTTPS, verified with a throwaway CA.
func TestServeWebhookLimits(t *testing.T) {
	bucket, s3 := localstack.Bucket(t)
	redisURL, redisPrefix := localstack.RedisNamespace(t)
	const secret = "webhook-limits-secret"
	caFile, certFile, keyFile := writeTestCA(t, t.TempDir())
	port := freePort(t)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "AWS_ENDPOINT_URL_S3=" + s3.Endpoint,
		"AWS_ACCESS_KEY_ID=" + s3.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3.SecretKey, "AWS_REGION=" + s3.Region,
		"FANOUT_REDIS_URL=" + redisURL, "FANOUT_REDIS_PREFIX=" + redisPrefix, "FANOUT_WEBHOOK_SECRET=" + secret}
	logs := startFanout(t, env, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--fn", "convert",
		"--out", "s3://"+bucket+"/out/", "--workers", "0", "--max-body", "65536", "--max-events", "100", "--max-requests", "2",
		"--tls-cert", certFile, "--tls-key", keyFile)
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	poll(t, 30*time.Second, "fanout serve to listen over TLS", func() bool {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	post := func(body io.Reader) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, base+"/", body)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST: %v\n%s", err, logs.String())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Plain HTTP to the TLS port is refused.
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port)); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered 200 on the TLS port")
		}
	}
	// 101 records of `{"s3":{}}`, 11 bytes each: past --max-events.
	many := `{"Records":[` + strings.Repeat(`{"s3":{}},`, 100) + `{"s3":{}}]}`
	if code, body := post(strings.NewReader(many)); code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "--max-events") {
		t.Errorf("101 records: %d %s; want 413 naming --max-events", code, body)
	}
	// A body past --max-body.
	if code, body := post(strings.NewReader(strings.Repeat(" ", 70000) + "{}")); code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "--max-body") {
		t.Errorf("a 70 kB body: %d %s; want 413 naming --max-body", code, body)
	}
	// Two requests whose bodies never end hold both slots: a third is
	// answered 503 at once; once they go, requests are served again.
	var held []*io.PipeWriter
	done := make(chan struct{}, 2)
	for range 2 {
		pr, pw := io.Pipe()
		held = append(held, pw)
		go func() {
			defer func() { done <- struct{}{} }()
			req, _ := http.NewRequest(http.MethodPost, base+"/", pr)
			req.Header.Set("Authorization", "Bearer "+secret)
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		pw.Write([]byte(`{"Records":[`))
	}
	poll(t, 30*time.Second, "a third request to be answered 503", func() bool {
		code, _ := post(strings.NewReader(minioBody(bucket, "in/x.csv")))
		return code == http.StatusServiceUnavailable
	})
	for _, pw := range held {
		pw.CloseWithError(errors.New("client gone"))
	}
	<-done
	<-done
	poll(t, 30*time.Second, "requests to be served again", func() bool {
		code, _ := post(strings.NewReader(`{"Records":[]}`))
		return code != http.StatusServiceUnavailable
	})
	if resp, err := client.Get(base + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("serve is not healthy after the limits: %v\n%s", err, logs.String())
	}
}
