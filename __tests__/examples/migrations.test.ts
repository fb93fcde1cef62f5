/*
applyRateLimitMigrations() on real SQLite files: it makes the table the `RateLimitHit` model describes (the generated
Prisma client reads and writes it), runs again without harm, upgrades a table from before the `synced` column, and
refuses a provider it has no SQL for. The SQL is a module (migrations.ts), so the copied files need nothing beside them.
*/
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {PrismaBetterSqlite3} from '@prisma/adapter-better-sqlite3';
import {PrismaClient} from '../../examples/rate-limit/generated/sqlite/client.js';
import {rateLimitMigrations} from '../../examples/rate-limit/migrations.js';
import {applyRateLimitMigrations, PrismaRateLimitStore} from '../../examples/rate-limit/prisma-store.js';

jest.setTimeout(30_000);

let dir: string;
let prisma: PrismaClient;

beforeEach(() => {
	dir = mkdtempSync(join(tmpdir(), 'connection-guard-migrations-'));
	prisma = new PrismaClient({adapter: new PrismaBetterSqlite3({url: `file:${join(dir, 'app.db')}`})});
});

afterEach(async () => {
	await prisma.$disconnect();
	rmSync(dir, {recursive: true, force: true});
});

type Column = {name: string; type: string; notnull: number | bigint; dflt_value: string | null; pk: number | bigint};

async function columns(): Promise<Array<Pick<Column, 'name' | 'type'> & {notNull: boolean; primaryKey: boolean; default: string | null}>> {
	const rows = await prisma.$queryRawUnsafe<Column[]>('PRAGMA table_info("rate_limit_hits")');
	return rows.map(row => ({
		name: row.name,
		type: row.type,
		notNull: Number(row.notnull) === 1,
		primaryKey: Number(row.pk) === 1,
		default: row.dflt_value,
	}));
}

async function indexes(): Promise<string[]> {
	const rows = await prisma.$queryRawUnsafe<Array<{name: string}>>('PRAGMA index_list("rate_limit_hits")');
	return rows.map(row => row.name).filter(name => !name.startsWith('sqlite_autoindex')).sort();
}

test('creates the table the RateLimitHit model describes, and the generated client reads and writes it', async () => {
	await applyRateLimitMigrations(prisma, 'sqlite');

	expect(await columns()).toEqual([
		{name: 'key', type: 'TEXT', notNull: true, primaryKey: true, default: null},
		{name: 'hits', type: 'INTEGER', notNull: true, primaryKey: false, default: null},
		{name: 'reset_at', type: 'BIGINT', notNull: true, primaryKey: false, default: null},
		{name: 'synced', type: 'INTEGER', notNull: true, primaryKey: false, default: '0'},
		{name: 'level', type: 'BIGINT', notNull: true, primaryKey: false, default: '0'},
		{name: 'previous_hits', type: 'INTEGER', notNull: true, primaryKey: false, default: '0'},
		{name: 'since', type: 'BIGINT', notNull: true, primaryKey: false, default: '0'},
		{name: 'known_level', type: 'BIGINT', notNull: true, primaryKey: false, default: '0'},
		{name: 'known_previous', type: 'INTEGER', notNull: true, primaryKey: false, default: '0'},
	]);
	expect(await indexes()).toEqual(['rate_limit_hits_reset_at_idx']);

	const resetAt = BigInt(Date.now() + 60_000);
	await prisma.rateLimitHit.create({data: {key: 'rl:a', hits: 3, resetAt}});
	await expect(prisma.rateLimitHit.findUnique({where: {key: 'rl:a'}})).resolves.toEqual({key: 'rl:a', hits: 3, synced: 0, resetAt, level: 0n, previousHits: 0, since: 0n, knownLevel: 0n, knownPrevious: 0});

	// And the store counts on from what the model wrote.
	const store = new PrismaRateLimitStore({prisma, windowMs: 60_000, cleanupIntervalMs: 0});
	await expect(store.increment('a')).resolves.toMatchObject({totalHits: 4});
});

test('runs again at every start without error or change', async () => {
	await applyRateLimitMigrations(prisma, 'sqlite');
	await prisma.rateLimitHit.create({data: {key: 'rl:kept', hits: 1, resetAt: 1n}});
	const before = await columns();

	await applyRateLimitMigrations(prisma, 'sqlite');
	await applyRateLimitMigrations(prisma, 'sqlite');

	expect(await columns()).toEqual(before);
	expect(await indexes()).toEqual(['rate_limit_hits_reset_at_idx']);
	await expect(prisma.rateLimitHit.count()).resolves.toBe(1);
});

test('upgrades a table made before the synced column, keeping its rows', async () => {
	const [first] = rateLimitMigrations.sqlite;
	await prisma.$executeRawUnsafe(first.sql);
	await prisma.$executeRawUnsafe('INSERT INTO "rate_limit_hits" ("key", "hits", "reset_at") VALUES (\'rl:old\', 7, 123)');

	await applyRateLimitMigrations(prisma, 'sqlite');

	expect((await columns()).map(column => column.name)).toEqual([
		'key', 'hits', 'reset_at', 'synced', 'level', 'previous_hits', 'since', 'known_level', 'known_previous',
	]);
	await expect(prisma.rateLimitHit.findUnique({where: {key: 'rl:old'}})).resolves.toEqual({
		key: 'rl:old', hits: 7, synced: 0, resetAt: 123n, level: 0n, previousHits: 0, since: 0n, knownLevel: 0n, knownPrevious: 0,
	});
});

test('a provider it has no SQL for is refused, naming the argument, before anything runs', async () => {
	await expect(applyRateLimitMigrations(prisma, 'mysql' as never)).rejects.toThrow(new RangeError('Expected `provider` to be \'sqlite\' or \'postgres\', got `mysql`'));
	await expect(applyRateLimitMigrations(prisma, undefined as never)).rejects.toThrow(TypeError);
	await expect(applyRateLimitMigrations(prisma, 'toString' as never)).rejects.toThrow(RangeError);
	await expect(prisma.$queryRawUnsafe('SELECT name FROM sqlite_master WHERE name = \'rate_limit_hits\'')).resolves.toEqual([]);
});

test('every migration is one statement, in name order, with the same names for both databases', () => {
	for (const migrations of Object.values(rateLimitMigrations)) {
		const names = migrations.map(({name}) => name);
		expect(names).toEqual([...names].sort());
		for (const {sql} of migrations) {
			// better-sqlite3 and PostgreSQL's extended protocol both run one statement per call.
			expect(sql.trim().replace(/;$/, '')).not.toContain(';');
		}
	}

	expect(rateLimitMigrations.sqlite.map(({name}) => name)).toEqual(rateLimitMigrations.postgres.map(({name}) => name));
});
