import {PrismaBetterSqlite3} from '@prisma/adapter-better-sqlite3';
import {PrismaPg} from '@prisma/adapter-pg';
import {PrismaClient as PostgresPrismaClient} from './generated/postgres/client.js';
import {PrismaClient as SqlitePrismaClient} from './generated/sqlite/client.js';
import {applyRateLimitMigrations, type PrismaProvider, type PrismaRawClient} from './prisma-store.js';

export type RateLimitPrisma = (SqlitePrismaClient | PostgresPrismaClient) & PrismaRawClient;

/**
This repository's Prisma 7 client for the rate-limit table (its tests, demo, benchmarks and example apps), through a
driver adapter (no engine binary): SQLite with `@prisma/adapter-better-sqlite3` for a `file:` URL, PostgreSQL with
`@prisma/adapter-pg` for a `postgres://` URL. The migrations are applied before it is returned; a SQLite database is
put in WAL mode with `synchronous = NORMAL`. It imports both adapters and this repository's generated clients: in your
app, use your own `PrismaClient` instead (docs/rate-limiting-in-your-app.md).

@example
```
const {prisma} = await createRateLimitPrisma('file:./rate-limit.db');
const store = new PrismaRateLimitStore({prisma, windowMs: 60_000});
```
*/
export async function createRateLimitPrisma(url: string): Promise<{prisma: RateLimitPrisma; provider: PrismaProvider}> {
	const provider: PrismaProvider = /^postgres(ql)?:/.test(url) ? 'postgres' : 'sqlite';
	const prisma = (provider === 'postgres'
		? new PostgresPrismaClient({adapter: new PrismaPg({connectionString: url})})
		: new SqlitePrismaClient({adapter: new PrismaBetterSqlite3({url})})) as RateLimitPrisma;
	try {
		if (provider === 'sqlite') {
			// Write-ahead log, synced at checkpoints: an increment costs ~0.2 ms instead of an fsync per commit (~1.6 ms),
			// which is the fallback's whole throughput during an outage. A power cut may lose the last increments.
			await prisma.$queryRawUnsafe('PRAGMA journal_mode = WAL');
			await prisma.$executeRawUnsafe('PRAGMA synchronous = NORMAL');
		}

		await applyRateLimitMigrations(prisma, provider);
	} catch (error) {
		// A database that did not open leaves no client behind (an app retrying its start would pile them up).
		await prisma.$disconnect().catch(() => undefined);
		throw error;
	}

	return {prisma, provider};
}
