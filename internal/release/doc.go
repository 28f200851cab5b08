// Command release is the repository's release tooling, run by make:
//
//	release [-apply] [-test cmd] vX.Y.Z   make release VERSION=vX.Y.Z [APPLY=1]
//	bump vX.Y.Z                           the release's rewrite alone
//	consumer [-keep]                      make consumer
//	tidy [-check]                         make tidy, make tidy-check
//	gowork-off [-only dirs] go-args…      make vet-gowork-off, make test-gowork-off
//	proxy -dir d                          a file proxy of the checkout, for a look
//
// Every module of go.work is one of ours, released together at one version;
// none is listed here.
package main
