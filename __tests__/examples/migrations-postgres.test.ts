// Runs when PostgreSQL answers (jest.config.js leaves this file out otherwise, and says so); .ci/run starts the
// service. applyRateLimitMigrations() on a database of this test's own: the table of the RateLimitHit model, again
// without harm, and the upgrade of a table from before the `synced` column.
import {PrismaPg} from '@prisma/adapter-pg';
import pg from 'pg';
import {PrismaClient} from '../../examples/rate-limit/generated/postgres/client.js';
import {rateLimitMigrations} from '../../examples/rate-limit/migrations.js';
import {applyRateLimitMigrations} from '../../examples/rate-limit/prisma-store.js';
import {postgresUrl} from '../helpers/stores.js';

jest.setTimeout(60_000);

const database = `connection_guard_migrations_${process.pid}_${Date.now()}`;
let prisma: PrismaClient;

async function admin(sql: string): Promise<void> {
	const client = new pg.Client({connectionString: postgresUrl});
	await client.connect();
	try {
		await client.query(sql);
	} finally {
		await client.end();
	}
}

beforeEach(async () => {
	await admin(`CREATE DATABASE ${database}`);
	const url = new URL(postgresUrl);
	url.pathname = `/${database}`;
	prisma = new PrismaClient({adapter: new PrismaPg({connectionString: url.href})});
});

afterEach(async () => {
	await prisma.$disconnect();
	await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
});

type Column = {column_name: string; data_type: string; is_nullable: string; column_default: string | null};

async function columns(): Promise<Column[]> {
	return prisma.$queryRaw<Column[]>`
		SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns
		WHERE table_name = 'rate_limit_hits' ORDER BY ordinal_position`;
}

async function indexes(): Promise<string[]> {
	const rows = await prisma.$queryRaw<Array<{name: string}>>`
		SELECT indexname AS name FROM pg_indexes WHERE tablename = 'rate_limit_hits' ORDER BY indexname`;
	return rows.map(row => row.name);
}

test('creates the table the RateLimitHit model describes, with the names prisma migrate gives it, and runs again without change', async () => {
	await applyRateLimitMigrations(prisma, 'postgres');

	const expected = [
		{column_name: 'key', data_type: 'text', is_nullable: 'NO', column_default: null},
		{column_name: 'hits', data_type: 'integer', is_nullable: 'NO', column_default: null},
		{column_name: 'reset_at', data_type: 'bigint', is_nullable: 'NO', column_default: null},
		{column_name: 'synced', data_type: 'integer', is_nullable: 'NO', column_default: '0'},
		{column_name: 'level', data_type: 'bigint', is_nullable: 'NO', column_default: '0'},
		{column_name: 'previous_hits', data_type: 'integer', is_nullable: 'NO', column_default: '0'},
		{column_name: 'since', data_type: 'bigint', is_nullable: 'NO', column_default: '0'},
		{column_name: 'known_level', data_type: 'bigint', is_nullable: 'NO', column_default: '0'},
		{column_name: 'known_previous', data_type: 'integer', is_nullable: 'NO', column_default: '0'},
	];
	expect(await columns()).toEqual(expected);
	expect(await indexes()).toEqual(['rate_limit_hits_pkey', 'rate_limit_hits_reset_at_idx']);

	const resetAt = BigInt(Date.now() + 60_000);
	await prisma.rateLimitHit.create({data: {key: 'rl:a', hits: 2, resetAt}});
	await expect(prisma.rateLimitHit.findUnique({where: {key: 'rl:a'}})).resolves.toEqual({key: 'rl:a', hits: 2, synced: 0, resetAt, level: 0n, previousHits: 0, since: 0n, knownLevel: 0n, knownPrevious: 0});

	await applyRateLimitMigrations(prisma, 'postgres');
	expect(await columns()).toEqual(expected);
	await expect(prisma.rateLimitHit.count()).resolves.toBe(1);
});

test('upgrades a table made before the synced column, keeping its rows', async () => {
	const [first] = rateLimitMigrations.postgres;
	await prisma.$executeRawUnsafe(first.sql);
	await prisma.$executeRawUnsafe('INSERT INTO "rate_limit_hits" ("key", "hits", "reset_at") VALUES (\'rl:old\', 7, 123)');

	await applyRateLimitMigrations(prisma, 'postgres');

	await expect(prisma.rateLimitHit.findUnique({where: {key: 'rl:old'}})).resolves.toEqual({
		key: 'rl:old', hits: 7, synced: 0, resetAt: 123n, level: 0n, previousHits: 0, since: 0n, knownLevel: 0n, knownPrevious: 0,
	});
});
