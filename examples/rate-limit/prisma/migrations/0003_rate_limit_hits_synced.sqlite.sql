-- How many of a row's hits Redis already has, so that a fallback and Redis can hand counts to each other without
-- counting a hit twice (fallback-store.ts). SQLite has no ADD COLUMN IF NOT EXISTS: applyRateLimitMigrations() takes
-- "duplicate column name" for "already applied".
ALTER TABLE "rate_limit_hits" ADD COLUMN "synced" INTEGER NOT NULL DEFAULT 0;
