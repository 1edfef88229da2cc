//go:build race

package web_test

// raceDetector is true when the tests run under the race detector, which
// makes every request several times slower: a latency bound is measured
// without it (.ci/run runs the flood test again without -race).
const raceDetector = true
