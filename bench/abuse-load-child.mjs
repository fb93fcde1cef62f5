#!/usr/bin/env node
// The load of the abuse bench (bench/abuse.ts), in its own process so that it never shares the server's event loop:
// autocannon, each request with an `x-client-key` header drawn for that request from the mix — a share `hotShare` of
// the requests from `hotKeys` keys (h0…), the rest from `coldKeys` keys (c0…), uniformly within each group, from a
// seeded generator so that every store gets the same sequence of draws.
// Usage: node bench/abuse-load-child.mjs '{"url":…,"connections":…,"durationS"|"amount":…,"seed":…,"hotKeys":…,
// "coldKeys":…,"hotShare":…}'  — prints {requests, statusCodes, errors, timeouts, requestsPerSecond, p50Ms, p99Ms} as
// one JSON line.
import autocannon from 'autocannon';
import {keyDraw} from './abuse-keys.mjs';

const {url, connections, durationS, amount, seed, hotKeys, coldKeys, hotShare} = JSON.parse(process.argv[2]);
const draw = keyDraw({seed, hotKeys, coldKeys, hotShare});
const result = await autocannon({
	url,
	connections,
	...(amount === undefined ? {duration: durationS} : {amount}),
	timeout: 30,
	requests: [{
		setupRequest(request) {
			request.headers['x-client-key'] = draw();
			return request;
		},
	}],
});
const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats ?? {})
	.map(([code, stats]) => [code, stats?.count ?? 0]));
process.stdout.write(`${JSON.stringify({
	requests: Object.values(statusCodes).reduce((sum, count) => sum + count, 0),
	statusCodes,
	errors: result.errors,
	timeouts: result.timeouts,
	requestsPerSecond: result.requests.average,
	p50Ms: result.latency.p50,
	p99Ms: result.latency.p99,
})}\n`);
