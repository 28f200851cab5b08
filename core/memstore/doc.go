// Package memstore implements core.Store and core.UserStore in memory, for
// development, tests and single-process services. Sessions vanish with the
// process; use redisstore when several processes share sessions or when they
// must survive a restart.
//
// Both types are safe for concurrent use, pass the conformance suite
// (conformance/storetest) and honour every expiry of the session model.
package memstore
