// Package examples holds the example servers examples/gin, examples/echo,
// examples/fiber and examples/nethttp, and their end-to-end tests
// (examples/e2e).
//
// The servers are what "authenik8 new --store redis --users postgres" writes
// (go.mod, go.sum and .env aside): the templates of cmd/authenik8 are their
// one source, and a test there fails when they differ. To change a server,
// change the templates, then regenerate:
//
//	go generate ./examples
package examples

//go:generate go test -C ../cmd/authenik8 -run ^TestExamplesAreGenerated$ -update
