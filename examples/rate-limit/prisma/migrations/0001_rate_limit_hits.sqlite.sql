-- Rate-limit counters, one row per key and fixed window. Applied by applyRateLimitMigrations() (prisma-store.ts).
CREATE TABLE IF NOT EXISTS "rate_limit_hits" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "hits" INTEGER NOT NULL,
    "reset_at" BIGINT NOT NULL
);
