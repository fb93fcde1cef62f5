-- How many of a row's hits Redis already has, so that a fallback and Redis can hand counts to each other without
-- counting a hit twice (fallback-store.ts). Idempotent, like every migration here.
ALTER TABLE "rate_limit_hits" ADD COLUMN IF NOT EXISTS "synced" INTEGER NOT NULL DEFAULT 0;
