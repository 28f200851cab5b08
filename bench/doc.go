// Command bench measures Authenik8 side by side with what users would pick
// instead, in one run on loopback, and prints ratios against a baseline
// measured in the same run (make bench):
//
//   - requests/s per framework (Gin, Echo, Fiber) of (a) an open route,
//     (b) Authenticate on the Redis store, (c) the framework's stateless JWT
//     middleware (appleboy/gin-jwt, labstack/echo-jwt, gofiber/contrib/jwt)
//     and (d) a naive stateful design, jwx plus one Redis GET per request —
//     same handler, same token, same connections; ratios b/a, b/c, b/d;
//   - POST /auth/refresh requests/s at 64 connections on Redis, next to the
//     raw throughput of the rotation script (the floor);
//   - how long a revocation takes to reach another process (p50, p99).
//
// Load comes from wrk (apt-get install wrk). Redis is REDIS_URL, or a
// throwaway redis-server on a free loopback port. Results go to
// results/results.json and results/chart.svg.
package main
