package localstack

import (
	"fmt"
	"net/http"
	"time"
)

// probeHTTP checks that url answers 200 within a few seconds.
func probeHTTP(url string) error {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}
