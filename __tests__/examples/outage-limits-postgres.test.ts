// Two app processes sharing Redis and PostgreSQL across each fault (see outage-limits.ts). Runs when PostgreSQL answers
// (jest.config.js leaves this file out otherwise, and says so).
import {postgresUrl, uniquePrefix} from '../helpers/stores.js';
import {faults, limit, runSequence} from './outage-limits.js';

jest.setTimeout(60_000);

test.each(faults)('two processes on PostgreSQL, $name: exactly the limit admitted', async fault => {
	const run = await runSequence(fault, postgresUrl, uniquePrefix('outage-pg'), 'two processes');
	expect(run.admitted).toBe(limit);
	expect(run.during.every(decision => decision.decidedBy === 'fallback')).toBe(true);
	expect(run.after.every(decision => decision.decidedBy === 'primary' && !decision.allowed)).toBe(true);
	// Each process counts its first refused hit in the fallback and its first one after in Redis; the rest from memory.
	expect(run.redisCount).toBe(limit + 4 + (fault.closesConnections ? 0 : 2));
});
