// Command bench measures Authenik8 side by side with what users would pick
// instead, in one run on loopback, and prints ratios against a baseline
// measured in the same run (make bench):
//
//   - requests/s per framework (Gin, Echo, Fiber) of (a) an open route,
//     (b) Authenticate on the Redis store, (c) the framework's stateless JWT
//     middleware (appleboy/gin-jwt, labstack/echo-jwt, gofiber/contrib/jwt)
//     and (d) a naive stateful design, jwx plus one Redis GET per request —
//     same handler, same token, same connections; each scenario twice a
//     round, in an order and its reverse (A B C D D C B A), so that a drift
//     of the machine's speed weighs alike on all; ratios b/a, b/c, b/d of
//     each round's means;
//   - POST /auth/refresh requests/s at 64 connections on Redis, next to the
//     raw throughput of the rotation script (the floor);
//   - how long a revocation takes to reach another process (p50, p99);
//   - a population: 200,000 sessions opened through the API (-pop), and for
//     each framework and design of (b), (c), (d) three loads from token files
//     wrk walks: 50 tokens in rotation, every request a token the server has
//     not seen (distinct), and each token 10 times in random order (mix).
//     Every server measured is fresh: its caches have seen none of the
//     tokens (the 50-token run, then the distinct run, on one server; the
//     mix on another). Ratios: authenik8's distinct run against its own
//     50-token run, and against the stateless peer's distinct run;
//   - the resident memory (VmRSS) of examples/gin, built and run as its own
//     process on the same Redis, before and after serving 200,000 distinct
//     sessions once each.
//
// -steps runs some of these (warm, refresh, propagation, population, rss);
// -profile writes a CPU profile of one server under load: framework/design
// for the first, framework/design/load for the population; either prints,
// per request, the server's CPU, allocations and system calls, and Redis'
// CPU, commands and the socket reads they came in.
//
// Figures of the run in results/ (make bench, 2 cores shared with other
// work; medians of 3 rounds): b/a 0.93 gin, 0.94 echo, 0.95 fiber; with
// 200,000 sessions, authenik8's distinct-token throughput is 0.44, 0.43,
// 0.39 of its 50-token throughput and 0.70, 0.73, 0.62 of the stateless
// peer's on the same tokens (mix: 0.94, 0.90, 0.91 of the peer); the Gin
// example's VmRSS goes from 30 MB to 71 MB over 200,000 distinct sessions.
// The README's Performance section has the tables.
//
// Load comes from wrk (apt-get install wrk). Redis is REDIS_URL, or a
// throwaway redis-server on a free loopback port. Results go to
// results/results.json and results/chart.svg.
package main
