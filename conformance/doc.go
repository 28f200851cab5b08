// Package conformance holds the suites every store and every adapter of
// Authenik8 runs from its own tests:
//
//   - storetest: the session semantics of core.Store implementations
//     (Run, RunConcurrency, Benchmark) and the accounts contract of user
//     stores (RunUsers, RunUnknownEmailTiming);
//   - adaptertest: the HTTP contract, black-box over a real listener;
//   - redistest: throwaway redis-server processes and clusters for tests;
//   - pgtest: the PostgreSQL tests share, or a throwaway server of a
//     test's own;
//   - oauthtest: a scripted OAuth provider and in-memory accounts, for
//     core's sign-in flow without a network;
//   - proctest: built HTTP servers (examples, generated projects) run as
//     processes, with /healthz at start and a graceful stop.
//
// The suites own their subtest names, so a failure reads the same for every
// implementation.
package conformance
