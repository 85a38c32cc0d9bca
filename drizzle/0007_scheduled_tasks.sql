ALTER TYPE "public"."task_status" ADD VALUE 'SCHEDULED' BEFORE 'NEW';--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "run_at" timestamp (3) with time zone;--> statement-breakpoint
CREATE INDEX "tasks_scheduled_run_at_idx" ON "tasks" USING btree ("run_at") WHERE run_at IS NOT NULL AND started_at IS NULL AND finished_at IS NULL;