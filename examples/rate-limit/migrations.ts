/**
The rate-limit table, as SQL per provider, oldest first: what `applyRateLimitMigrations()` (prisma-store.ts) runs.
Strings in a module rather than `.sql` files beside it, so that they survive any build (tsc copies no `.sql`) and need
no file lookup (no `import.meta`, no `__dirname`): the same code runs as ESM and as CommonJS, from `src/` or `dist/`.

Each migration is one statement and safe to run again. Never change one that has shipped: add the next. The table is the
one the `RateLimitHit` model describes (docs/rate-limiting-in-your-app.md), with the names `prisma migrate` gives it.
*/
export const rateLimitMigrations = {
	sqlite: [
		{
			name: '0001_rate_limit_hits',
			// Rate-limit counters, one row per key and fixed window.
			sql: `CREATE TABLE IF NOT EXISTS "rate_limit_hits" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "hits" INTEGER NOT NULL,
    "reset_at" BIGINT NOT NULL
)`,
		},
		{
			name: '0002_rate_limit_hits_reset_at',
			// Lets deleteExpired() find expired rows without a full scan.
			sql: 'CREATE INDEX IF NOT EXISTS "rate_limit_hits_reset_at_idx" ON "rate_limit_hits" ("reset_at")',
		},
		{
			name: '0003_rate_limit_hits_synced',
			// How many of a row's hits Redis already has, so that the fallback and Redis hand counts to each other without
			// counting a hit twice (fallback-store.ts). SQLite has no ADD COLUMN IF NOT EXISTS: applyRateLimitMigrations()
			// takes its "duplicate column name" for "already applied".
			sql: 'ALTER TABLE "rate_limit_hits" ADD COLUMN "synced" INTEGER NOT NULL DEFAULT 0',
		},
		{
			name: '0004_rate_limit_hits_level',
			// A sliding window's hits in its current window, or a token bucket's level (algorithms.ts); `hits` then holds the
			// last hit's answer.
			sql: 'ALTER TABLE "rate_limit_hits" ADD COLUMN "level" BIGINT NOT NULL DEFAULT 0',
		},
		{
			name: '0005_rate_limit_hits_previous_hits',
			// A sliding window's hits in the window before.
			sql: 'ALTER TABLE "rate_limit_hits" ADD COLUMN "previous_hits" INTEGER NOT NULL DEFAULT 0',
		},
		{
			name: '0006_rate_limit_hits_since',
			// A sliding window's start, or when a token bucket's level was measured (ms since the epoch).
			sql: 'ALTER TABLE "rate_limit_hits" ADD COLUMN "since" BIGINT NOT NULL DEFAULT 0',
		},
		{
			name: '0007_rate_limit_hits_known_level',
			// The highest `level` Redis had, of what processes handed the fallback during an outage (fallback-store.ts): the
			// row counts on beyond it, and hands back what it has beyond it.
			sql: 'ALTER TABLE "rate_limit_hits" ADD COLUMN "known_level" BIGINT NOT NULL DEFAULT 0',
		},
		{
			name: '0008_rate_limit_hits_known_previous',
			// The same for `previous_hits`.
			sql: 'ALTER TABLE "rate_limit_hits" ADD COLUMN "known_previous" INTEGER NOT NULL DEFAULT 0',
		},
	],
	postgres: [
		{
			name: '0001_rate_limit_hits',
			sql: `CREATE TABLE IF NOT EXISTS "rate_limit_hits" (
    "key" TEXT NOT NULL,
    "hits" INTEGER NOT NULL,
    "reset_at" BIGINT NOT NULL,
    CONSTRAINT "rate_limit_hits_pkey" PRIMARY KEY ("key")
)`,
		},
		{
			name: '0002_rate_limit_hits_reset_at',
			sql: 'CREATE INDEX IF NOT EXISTS "rate_limit_hits_reset_at_idx" ON "rate_limit_hits" ("reset_at")',
		},
		{
			name: '0003_rate_limit_hits_synced',
			sql: 'ALTER TABLE "rate_limit_hits" ADD COLUMN IF NOT EXISTS "synced" INTEGER NOT NULL DEFAULT 0',
		},
		{
			name: '0004_rate_limit_hits_level',
			sql: 'ALTER TABLE "rate_limit_hits" ADD COLUMN IF NOT EXISTS "level" BIGINT NOT NULL DEFAULT 0',
		},
		{
			name: '0005_rate_limit_hits_previous_hits',
			sql: 'ALTER TABLE "rate_limit_hits" ADD COLUMN IF NOT EXISTS "previous_hits" INTEGER NOT NULL DEFAULT 0',
		},
		{
			name: '0006_rate_limit_hits_since',
			sql: 'ALTER TABLE "rate_limit_hits" ADD COLUMN IF NOT EXISTS "since" BIGINT NOT NULL DEFAULT 0',
		},
		{
			name: '0007_rate_limit_hits_known_level',
			sql: 'ALTER TABLE "rate_limit_hits" ADD COLUMN IF NOT EXISTS "known_level" BIGINT NOT NULL DEFAULT 0',
		},
		{
			name: '0008_rate_limit_hits_known_previous',
			sql: 'ALTER TABLE "rate_limit_hits" ADD COLUMN IF NOT EXISTS "known_previous" INTEGER NOT NULL DEFAULT 0',
		},
	],
} as const satisfies Record<string, ReadonlyArray<{name: string; sql: string}>>;

/** The databases the rate-limit SQL is written for. */
export type PrismaProvider = keyof typeof rateLimitMigrations;
