CREATE TABLE "task_type_settings" (
	"name" text PRIMARY KEY NOT NULL,
	"paused" boolean DEFAULT false NOT NULL,
	"concurrency" integer,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "task_type_settings_concurrency_min" CHECK ("task_type_settings"."concurrency" >= 1)
);
--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "held_at" timestamp (3) with time zone;--> statement-breakpoint
CREATE INDEX "tasks_held_idx" ON "tasks" USING btree ("type","priority" DESC NULLS LAST,"created_at") WHERE held_at IS NOT NULL;--> statement-breakpoint
CREATE INDEX "tasks_in_progress_type_idx" ON "tasks" USING btree ("type") WHERE status = 'IN_PROGRESS';