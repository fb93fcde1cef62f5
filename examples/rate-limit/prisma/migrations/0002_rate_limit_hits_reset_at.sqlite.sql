-- Lets deleteExpired() find expired rows without a full scan. Idempotent, like every migration here.
CREATE INDEX IF NOT EXISTS "rate_limit_hits_reset_at_idx" ON "rate_limit_hits" ("reset_at");
