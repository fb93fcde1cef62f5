import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import pg from 'pg';
import {createRateLimitPrisma, type RateLimitPrisma} from '../../examples/rate-limit/prisma-clients.js';

/** A Prisma client on a fresh temporary SQLite file, with the migrations applied. */
export async function sqlitePrisma(): Promise<{prisma: RateLimitPrisma; cleanup(): Promise<void>}> {
	const dir = mkdtempSync(join(tmpdir(), 'connection-guard-sqlite-'));
	const {prisma} = await createRateLimitPrisma(`file:${join(dir, 'rate-limit.db')}`);
	return {
		prisma,
		async cleanup() {
			await prisma.$disconnect();
			rmSync(dir, {recursive: true, force: true});
		},
	};
}

/** The local PostgreSQL service (`DATABASE_URL`, or postgres@127.0.0.1:5432/test), when one answers. */
export const postgresUrl = process.env.DATABASE_URL?.startsWith('postgres') ? process.env.DATABASE_URL : 'postgresql://postgres@127.0.0.1:5432/test';

export async function postgresReachable(): Promise<boolean> {
	const client = new pg.Client({connectionString: postgresUrl, connectionTimeoutMillis: 2000});
	try {
		await client.connect();
		await client.query('SELECT 1');
		return true;
	} catch {
		return false;
	} finally {
		await client.end().catch(() => undefined);
	}
}

export async function postgresPrisma(): Promise<{prisma: RateLimitPrisma; cleanup(): Promise<void>}> {
	const {prisma} = await createRateLimitPrisma(postgresUrl);
	return {
		prisma,
		async cleanup() {
			await prisma.$disconnect();
		},
	};
}

/** A prefix no other test run uses, so tests sharing one database never see each other's keys. */
export const uniquePrefix = (name: string) => `test:${name}:${process.pid}:${Date.now()}:${Math.random().toString(36).slice(2)}:`;
