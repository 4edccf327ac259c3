package bucketurl_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "bucketurl-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	b, loc, err := bucketurl.Open(ctx, "file://"+dir+"/", bucketurl.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	if c, ok := b.(objstore.Closer); ok {
		defer c.Close()
	}
	// Create-only: the second writer of a marker learns it lost.
	_, err = b.Put(ctx, loc.Prefix+"_fanout/job/_COMMITTED", strings.NewReader("{}"), &objstore.PutOptions{IfNoneMatch: true})
	fmt.Println("first commit:", err)
	_, err = b.Put(ctx, loc.Prefix+"_fanout/job/_COMMITTED", strings.NewReader("{}"), &objstore.PutOptions{IfNoneMatch: true})
	fmt.Println("second commit lost:", err != nil && errors.Is(err, objstore.ErrPrecondition))
	// Output:
	// first commit: <nil>
	// second commit lost: true
}
