DROP INDEX "outbox_created_at_idx";--> statement-breakpoint
DROP INDEX "tasks_in_progress_started_idx";--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "available_at" timestamp (3) with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "heartbeat_at" timestamp (3) with time zone;--> statement-breakpoint
CREATE INDEX "outbox_available_at_idx" ON "outbox" USING btree ("available_at","id");--> statement-breakpoint
CREATE INDEX "tasks_in_progress_heartbeat_idx" ON "tasks" USING btree ("heartbeat_at") WHERE status = 'IN_PROGRESS';--> statement-breakpoint
-- Runs in progress during the upgrade (by code that sends no heartbeat) keep their task until their timeout.
UPDATE "tasks" SET "heartbeat_at" = greatest(now(), "started_at" + coalesce("timeout_ms", 900000) * interval '1 millisecond') WHERE "status" = 'IN_PROGRESS';
