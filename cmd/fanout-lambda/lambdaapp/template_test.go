package lambdaapp

import (
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/fanout-dev/fanout/cmd/internal/envconfig"
)

// node helpers over yaml.v3's tree: CloudFormation's short tags (!Ref,
// !Sub, !If) survive as tags on the nodes.
func field(n *yaml.Node, key string) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func path(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		n = field(n, k)
	}
	return n
}

// scalars returns a scalar's value, or a sequence's scalar values.
func scalars(n *yaml.Node) []string {
	switch {
	case n == nil:
		return nil
	case n.Kind == yaml.ScalarNode:
		return []string{n.Value}
	case n.Kind == yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			out = append(out, scalars(c)...)
		}
		return out
	}
	return nil
}

func keys(n *yaml.Node) []string {
	var out []string
	if n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i < len(n.Content); i += 2 {
			out = append(out, n.Content[i].Value)
		}
	}
	return out
}

// checkTemplate compares localstack/template.yaml with the code: the
// handler and runtime the bootstrap is built for, the environment
// variables it reads (envVars), and the IAM actions its calls needed in
// the handler tests (recorded).
func checkTemplate(t *testing.T, recorded []string) {
	raw, err := os.ReadFile("../../../localstack/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("../../../scripts/package-lambda.sh")
	if err != nil {
		t.Fatal(err)
	}

	// Runtime, handler, code: what package-lambda.sh builds.
	g := path(&doc, "Globals", "Function")
	if got := path(g, "Runtime").Value; got != "provided.al2023" {
		t.Errorf("Runtime %q, want provided.al2023 (the bootstrap is a custom runtime)", got)
	}
	if got := path(g, "Handler").Value; got != "bootstrap" {
		t.Errorf("Handler %q, want bootstrap (the only file in the zip)", got)
	}
	arch := scalars(path(g, "Architectures"))
	codeURI := path(g, "CodeUri").Value
	goarch := map[string]string{"arm64": "arm64", "x86_64": "amd64"}
	if len(arch) != 1 || goarch[arch[0]] == "" || !strings.HasSuffix(codeURI, "dist/fanout-lambda-"+goarch[arch[0]]+".zip") {
		t.Errorf("Architectures %v with CodeUri %q: want the zip package-lambda.sh builds for that architecture", arch, codeURI)
	}
	for _, want := range []string{"-tags lambda.norpc", "main=./cmd/fanout-lambda", "name=fanout-lambda", `out="$root/dist"`, `zip_path="$out/$name-$arch.zip"`, "zip -q -X"} {
		if !strings.Contains(string(script), want) {
			t.Errorf("package-lambda.sh does not hold %q", want)
		}
	}

	declared := map[string]envVar{}
	for _, v := range envVars {
		declared[v.Name] = v
	}
	for _, v := range envconfig.BucketVars {
		declared[v.Name] = envVar{Name: v.Name, Doc: v.Doc}
	}
	var recordedS3, recordedOther []string
	for _, a := range recorded {
		if strings.HasPrefix(a, "s3:") {
			recordedS3 = append(recordedS3, a)
		} else {
			recordedOther = append(recordedOther, a)
		}
	}
	if len(recordedS3) == 0 || !slices.Contains(recordedOther, "lambda:InvokeFunction") {
		t.Fatalf("recorded actions %v: the handler tests did not run far enough", recorded)
	}

	resources := path(&doc, "Resources")
	names := map[string]string{} // logical ID -> FunctionName (with ${AWS::StackName})
	var triggers, workers int
	for _, id := range keys(resources) {
		r := field(resources, id)
		if path(r, "Type").Value != "AWS::Serverless::Function" {
			continue
		}
		names[id] = path(r, "Properties", "FunctionName").Value
	}
	for _, id := range keys(resources) {
		r := field(resources, id)
		if path(r, "Type").Value != "AWS::Serverless::Function" {
			continue
		}
		props := path(r, "Properties")
		if path(props, "ReservedConcurrentExecutions") == nil {
			t.Errorf("%s: no ReservedConcurrentExecutions", id)
		}
		vars := path(props, "Environment", "Variables")
		env := map[string]*yaml.Node{}
		for _, k := range keys(vars) {
			env[k] = field(vars, k)
			if _, ok := declared[k]; !ok {
				t.Errorf("%s sets %s, which the bootstrap does not read", id, k)
			}
		}
		if env["FANOUT_REDIS_URL"] == nil {
			t.Errorf("%s: no FANOUT_REDIS_URL, which the bootstrap requires", id)
		}
		isTrigger := false
		for _, ev := range keys(path(props, "Events")) {
			e := field(path(props, "Events"), ev)
			if path(e, "Type").Value == "S3" {
				isTrigger = true
				if got := scalars(path(e, "Properties", "Events")); !slices.Equal(got, []string{"s3:ObjectCreated:*"}) {
					t.Errorf("%s: S3 events %v, want s3:ObjectCreated:*", id, got)
				}
			}
		}

		// IAM: the actions each function may take.
		var actions []string
		var invokeResources []string
		for _, pol := range path(props, "Policies").Content {
			for _, st := range path(pol, "Statement").Content {
				acts := scalars(path(st, "Action"))
				actions = append(actions, acts...)
				if slices.Contains(acts, "lambda:InvokeFunction") {
					invokeResources = append(invokeResources, scalars(path(st, "Resource"))...)
				}
				for _, a := range acts {
					if strings.Contains(a, "*") {
						t.Errorf("%s: wildcard action %q", id, a)
					}
				}
			}
		}
		slices.Sort(actions)
		actions = slices.Compact(actions)
		var s3Actions []string
		for _, a := range actions {
			if strings.HasPrefix(a, "s3:") {
				s3Actions = append(s3Actions, a)
			}
		}
		// Any invocation may commit, so every function needs what the
		// whole run needed in S3, and nothing more.
		if !slices.Equal(s3Actions, recordedS3) {
			t.Errorf("%s: S3 actions %v, want exactly those the code used: %v", id, s3Actions, recordedS3)
		}

		if isTrigger {
			triggers++
			for _, k := range []string{"FANOUT_FUNCTION", "FANOUT_OUTPUT", "FANOUT_WORKER_FUNCTION"} {
				if env[k] == nil {
					t.Errorf("trigger %s: no %s", id, k)
				}
			}
			worker := env["FANOUT_WORKER_FUNCTION"]
			var workerID string
			for other, fn := range names {
				if worker != nil && other != id && fn == worker.Value {
					workerID = other
				}
			}
			if workerID == "" {
				t.Errorf("trigger %s: FANOUT_WORKER_FUNCTION %v names no function of the template", id, worker)
			}
			if !slices.Contains(actions, "lambda:InvokeFunction") {
				t.Errorf("trigger %s may not invoke: it fans out and hands over", id)
			}
			for _, fn := range []string{names[workerID], names[id]} {
				found := false
				for _, r := range invokeResources {
					found = found || strings.HasSuffix(r, ":function:"+fn)
				}
				if !found {
					t.Errorf("trigger %s may not invoke %s (resources %v)", id, fn, invokeResources)
				}
			}
			out, in := env["FANOUT_OUTPUT"].Value, env["FANOUT_INPUTS"]
			if in == nil || strings.HasPrefix(out, in.Value) || strings.HasPrefix(in.Value, out) {
				t.Errorf("trigger %s: output %q and inputs %v overlap", id, out, in)
			}
		} else {
			workers++
			if slices.ContainsFunc(actions, func(a string) bool { return strings.HasPrefix(a, "lambda:") }) {
				t.Errorf("worker %s may invoke functions; work invocations never do", id)
			}
		}
	}
	if triggers != 1 || workers != 1 {
		t.Errorf("template has %d trigger and %d worker functions, want one each", triggers, workers)
	}
	// Default prefixes must not overlap either.
	in, out := path(&doc, "Parameters", "InputPrefix", "Default").Value, path(&doc, "Parameters", "OutputPrefix", "Default").Value
	if in == "" || out == "" || strings.HasPrefix(in, out) || strings.HasPrefix(out, in) {
		t.Errorf("default InputPrefix %q and OutputPrefix %q overlap", in, out)
	}
}
