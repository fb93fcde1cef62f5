// The sliding window and the token bucket on PostgreSQL: the model suite of algorithm-contract.ts, and the outage
// sequence of outage-limits.ts with PostgreSQL as the fallback (two app processes, a network cut: the fallback's SQL
// counts on beyond the highest Redis state either process handed it). Runs when PostgreSQL answers (jest.config.js
// leaves this file out otherwise, and says so).
import {PrismaRateLimitStore} from '../../examples/rate-limit/prisma-store.js';
import {postgresPrisma, postgresUrl, uniquePrefix} from '../helpers/stores.js';
import {algorithmSuite} from './algorithm-contract.js';
import {faults, limit, runSequence} from './outage-limits.js';

jest.setTimeout(120_000);

let postgres: Awaited<ReturnType<typeof postgresPrisma>>;
algorithmSuite({
	name: 'Prisma on PostgreSQL',
	async setup() {
		postgres = await postgresPrisma();
	},
	teardown: async () => postgres.cleanup(),
	store: settings => new PrismaRateLimitStore({
		prisma: postgres.prisma, prefix: uniquePrefix('algorithm'), cleanupIntervalMs: 0, ...settings,
	}),
});

test.each(['sliding-window', 'token-bucket'] as const)('%s, two processes on PostgreSQL, a network cut: exactly the limit admitted', async algorithm => {
	const run = await runSequence(faults[0]!, postgresUrl, uniquePrefix('outage-pg'), 'two processes', {algorithm});
	expect(run.admitted).toBe(limit);
	expect(run.during.every(decision => decision.decidedBy === 'fallback')).toBe(true);
	expect(run.after.every(decision => decision.decidedBy === 'primary' && !decision.allowed)).toBe(true);
	expect(run.redisCount).toBe(limit);
});
