#!/usr/bin/env node
// Runs autocannon in its own process, so that the load generator never shares the server's event loop (bench/http.ts).
// Usage: node bench/autocannon-child.mjs '<autocannon options as JSON>'  — prints autocannon's result as one JSON line.
import autocannon from 'autocannon';

const result = await autocannon(JSON.parse(process.argv[2]));
process.stdout.write(`${JSON.stringify(result)}\n`);
