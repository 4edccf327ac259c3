package localstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// RIE is AWS's Lambda Runtime Interface Emulator (aws-lambda-rie) running
// one bootstrap, owned by one test: the reference for the Runtime API
// contract beside the project's own emulator (localstack/lambdaemu). In
// its classic mode it serves one invocation at a time, through the
// function name "function" only.
type RIE struct {
	// Endpoint is the emulator's invoke address (http://127.0.0.1:<port>);
	// an AWS SDK Lambda client with it as its endpoint invokes the
	// function named "function".
	Endpoint string
	proc     *Proc
}

// RIEFunction is the only function name the RIE answers to.
const RIEFunction = "function"

var rieVersionLine = regexp.MustCompile(`(?m)^RIE_VERSION="([^"]+)"`)

// RIEBinary finds the aws-lambda-rie that scripts/tools.sh installs (the
// version it pins, aws-lambda-rie-<RIE_VERSION>): $FANOUT_RIE_BIN, else
// in $FANOUT_CACHE_DIR/bin, else in .cache/bin of the repository (found
// above the working directory). It skips (fails when required) when
// there is none.
func RIEBinary(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("FANOUT_RIE_BIN"); b != "" {
		return b
	}
	root := repoRoot()
	name := "aws-lambda-rie-*"
	if root != "" {
		if script, err := os.ReadFile(filepath.Join(root, "scripts", "tools.sh")); err == nil {
			if m := rieVersionLine.FindSubmatch(script); m != nil {
				name = "aws-lambda-rie-" + string(m[1])
			}
		}
	}
	var dirs []string
	if c := os.Getenv("FANOUT_CACHE_DIR"); c != "" {
		dirs = append(dirs, filepath.Join(c, "bin"))
	}
	if root != "" {
		dirs = append(dirs, filepath.Join(root, ".cache", "bin"))
	}
	for _, d := range dirs {
		m, _ := filepath.Glob(filepath.Join(d, name))
		for i := len(m) - 1; i >= 0; i-- {
			if st, err := os.Stat(m[i]); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
				return m[i]
			}
		}
	}
	Missing(t, "AWS's Lambda Runtime Interface Emulator "+name+" (scripts/tools.sh installs it into .cache/bin)")
	return ""
}

// StartRIE runs bootstrap under the RIE on free loopback ports with env
// (the function's environment: the RIE passes its own environment on)
// and waits until it accepts invocations. The RIE starts the bootstrap
// at the first invocation. It is killed when the test ends.
func StartRIE(t testing.TB, name, bootstrap string, env []string) *RIE {
	t.Helper()
	bin := RIEBinary(t)
	port := FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p := Start(t, name, env, bin, "--runtime-interface-emulator-address", addr,
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", FreePort(t)), bootstrap)
	Poll(t, 30*time.Second, name+" to listen on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return &RIE{Endpoint: "http://" + addr, proc: p}
}

// Logs returns what the RIE and the bootstrap wrote (the RIE forwards
// the bootstrap's output to its own).
func (r *RIE) Logs() string { return r.proc.Stdout() + r.proc.Stderr() }

// FunctionError is an invocation whose function failed: the RIE answers
// with the runtime's error document.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string { return "function error " + e.Type + ": " + e.Message }

// Invoke sends one invocation with payload through the RIE's invoke
// endpoint (POST /2015-03-31/functions/function/invocations) and returns
// the function's response. A function that reported an error (in its
// handler: 200; at init or by exiting: 502, with the runtime's error
// document) returns a *FunctionError; another HTTP status other than 200
// an error naming it.
func (r *RIE) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.Endpoint+"/2015-03-31/functions/"+RIEFunction+"/invocations", bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var fe FunctionError
	if json.Unmarshal(body, &fe) == nil && fe.Type != "" {
		return body, &fe
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("rie: invoke: HTTP %d: %s", resp.StatusCode, body)
	}
	return body, nil
}
