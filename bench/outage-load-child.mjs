#!/usr/bin/env node
// The load of the outage bench (bench/outage.ts), in its own process so that it never shares the server's event loop:
// autocannon with fixed connections for a fixed time, each connection one client key (`x-client-key: k<N>`), and every
// response recorded as [end (ms since the epoch), latency (ms), status, key number] — status 0 for a socket error or a
// timeout.
// Usage: node bench/outage-load-child.mjs '{"url":…,"connections":…,"durationS":…,"timeoutS":…}'
// Prints {records} as one JSON line.
import autocannon from 'autocannon';

const {url, connections, durationS, timeoutS} = JSON.parse(process.argv[2]);
const records = [];
const keyOf = new WeakMap();
let nextKey = 0;
const instance = autocannon({
	url,
	connections,
	duration: durationS,
	timeout: timeoutS,
	setupClient(client) {
		keyOf.set(client, nextKey);
		client.setHeaders({'x-client-key': `k${nextKey++}`});
	},
});
instance.on('response', (client, statusCode, _bytes, responseTime) => {
	records.push([Date.now(), responseTime, statusCode, keyOf.get(client)]);
});
instance.on('reqError', () => {
	records.push([Date.now(), null, 0, -1]);
});
await instance;
process.stdout.write(`${JSON.stringify({records})}\n`);
