package objstore_test

import (
	"fmt"

	"github.com/fanout-dev/fanout/objstore"
)

func ExampleParseURL() {
	for _, raw := range []string{"s3://logs/2024/", "s3://logs", "file:///data/in/"} {
		loc, err := objstore.ParseURL(raw)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s: store %s, prefix %q\n", raw, loc.StoreURL(), loc.Prefix)
	}
	// Output:
	// s3://logs/2024/: store s3://logs, prefix "2024/"
	// s3://logs: store s3://logs, prefix ""
	// file:///data/in/: store file:///data/in, prefix ""
}
