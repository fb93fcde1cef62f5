-- Rate-limit counters, one row per key and fixed window. Applied by applyRateLimitMigrations() (prisma-store.ts).
CREATE TABLE IF NOT EXISTS "rate_limit_hits" (
    "key" TEXT NOT NULL,
    "hits" INTEGER NOT NULL,
    "reset_at" BIGINT NOT NULL,
    CONSTRAINT "rate_limit_hits_pkey" PRIMARY KEY ("key")
);
