// Package faulttest is what fanout's failure tests are built from beside
// localstack (which starts the private MinIO and Redis servers a test may
// kill, stop, flush and restart, and the processes under test): an S3
// proxy that holds or drops chosen requests of one worker so that a fault
// hits an exact window, and the oracle that checks a committed job (every
// input record exactly once, exactly one marker per chunk, nothing left in
// staging). It is imported only by tests and scripts/chaos.sh.
package faulttest
