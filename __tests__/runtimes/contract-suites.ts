/*
The guard's contract suites on real servers, for `bun test` and `deno test` (scripts/other-runtimes.sh): the same files
jest runs, on the jest globals of ./jest-globals.ts. Imported in order, the globals first.
*/
import {reportCounts} from './jest-globals.js';
import '../helpers/setup.js';
import '../integration/redis.test.js';
import '../integration/cluster.test.js';
import '../integration/sentinel.test.js';
import '../integration/tls.test.js';
import '../integration/node-redis.test.js';
import '../integration/permanent-failures.test.js';
import '../integration/tracing.test.js';

// Bun counts its own tests (its jest globals replace ours there); on Deno the shim counts.
if (!('Bun' in globalThis)) {
	reportCounts();
}
