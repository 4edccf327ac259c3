package adhoc_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fanout-dev/fanout/fanout/adhoc"
	"github.com/fanout-dev/fanout/functions"
)

// shout is a function of your own: it upper-cases every line.
type shout struct{}

func (shout) Name() string     { return "shout" }
func (shout) Describe() string { return "upper-cases every line" }
func (shout) Prepare(functions.Params) (functions.Task, error) {
	return shoutTask{}, nil
}

type shoutTask struct{}

func (shoutTask) Output() *functions.Schema { return functions.LinesSchema }
func (shoutTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	for {
		rec, err := in.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := out.Write(functions.Row{functions.StringValue(strings.ToUpper(rec.Row[0].S))}); err != nil {
			return err
		}
	}
}

// ExampleRun runs a function of your own over every line of the objects
// under a prefix, in this process (set Job.Redis to let `work` processes
// join in), and reads the committed output.
func ExampleRun() {
	dir, _ := os.MkdirTemp("", "adhoc-example-")
	defer os.RemoveAll(dir)
	os.MkdirAll(filepath.Join(dir, "in"), 0o755)
	os.WriteFile(filepath.Join(dir, "in", "a.txt"), []byte("hello\nworld\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "in", "b.txt"), []byte("fan\nout\n"), 0o644)

	res, err := adhoc.Run(context.Background(), adhoc.Job{
		In:           "file://" + dir + "/in/",
		Function:     shout{},
		Out:          "file://" + dir + "/out/",
		OutputFormat: "csv",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.State, res.RecordsIn, "records in,", res.RecordsOut, "out")

	files, _ := filepath.Glob(filepath.Join(dir, "out", "*.csv"))
	var lines []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l != "line" { // the CSV header
				lines = append(lines, l)
			}
		}
	}
	sort.Strings(lines)
	fmt.Println(strings.Join(lines, " "))
	// Output:
	// committed 4 records in, 4 out
	// FAN HELLO OUT WORLD
}
