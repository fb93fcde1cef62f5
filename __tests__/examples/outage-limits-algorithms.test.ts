/*
The outage sequence of outage-limits.ts (limit 20: 10 requests before the fault, 20 during, 40 after) for the sliding
window and the token bucket: exactly 20 admitted across a network cut, a kill -9 with a restart and a freeze, on ioredis
and node-redis, one app process and two, SQLite as the fallback. Their states are handed over whole and merged (the
larger count of each), so unlike the fixed window no hit is counted twice, in flight at a freeze or not: Redis ends with
the 20 admitted hits (refused ones are not counted). The window is 10 minutes: the bucket refills one token per 30 s,
none during a run.

Two processes (a tsx child each, ~5 s a run) on ioredis only: node-redis runs the same store code, covered on one
process.
*/
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import type {Algorithm} from '../../examples/rate-limit/algorithms.js';
import {uniquePrefix} from '../helpers/stores.js';
import {faults, limit, runSequence} from './outage-limits.js';

jest.setTimeout(60_000);

let dir: string;
let databaseUrl: string;

beforeAll(() => {
	dir = mkdtempSync(join(tmpdir(), 'connection-guard-outage-algorithms-'));
	databaseUrl = `file:${join(dir, 'rate-limit.db')}`;
});

afterAll(() => {
	rmSync(dir, {recursive: true, force: true});
});

const runs = [
	['ioredis', 'one process'],
	['node-redis', 'one process'],
	['ioredis', 'two processes'],
] as const;

describe.each(['sliding-window', 'token-bucket'] satisfies Algorithm[])('%s', algorithm => {
	describe.each(runs)('%s, %s', (client, apps) => {
		test.each(faults)('$name: exactly the limit admitted, decided by Redis before and after, by the fallback during', async fault => {
			const run = await runSequence(fault, databaseUrl, uniquePrefix(`outage-${algorithm}`), apps, {client, algorithm});
			expect(run.admitted).toBe(limit);
			expect(run.before.every(decision => decision.allowed && decision.decidedBy === 'primary')).toBe(true);
			expect(run.during.map(decision => decision.decidedBy)).toEqual(Array.from({length: 20}, () => 'fallback'));
			expect(run.during.filter(decision => decision.allowed)).toHaveLength(10);
			expect(run.after.every(decision => !decision.allowed && decision.decidedBy === 'primary')).toBe(true);
			expect(run.redisCount).toBe(limit);
		});
	});

	test.each(faults)('every hit asked of the stores (inMemoryBlock: false), $name: the limit admitted, Redis ends with the admitted hits', async fault => {
		const run = await runSequence(fault, databaseUrl, uniquePrefix(`outage-${algorithm}`), 'one process', {algorithm, inMemoryBlock: false});
		expect(run.admitted).toBe(limit);
		expect(run.redisCount).toBe(limit);
	});
});
