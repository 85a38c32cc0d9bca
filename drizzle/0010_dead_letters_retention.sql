CREATE TABLE "dead_letters" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"queue" text NOT NULL,
	"task_id" uuid,
	"reason" text NOT NULL,
	"body" text NOT NULL,
	"failed_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"receive_count" integer DEFAULT 1 NOT NULL,
	CONSTRAINT "dead_letters_queue" CHECK ("dead_letters"."queue" IN ('tasks', 'task_intake'))
);
--> statement-breakpoint
ALTER TABLE "task_events" ADD COLUMN "attempt" integer;--> statement-breakpoint
ALTER TABLE "task_events" ADD COLUMN "error" text;--> statement-breakpoint
ALTER TABLE "dead_letters" ADD CONSTRAINT "dead_letters_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "dead_letters_queue_failed_at_idx" ON "dead_letters" USING btree ("queue","failed_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "dead_letters_task_id_idx" ON "dead_letters" USING btree ("task_id");--> statement-breakpoint
CREATE INDEX "dead_letters_failed_at_idx" ON "dead_letters" USING btree ("failed_at");--> statement-breakpoint
CREATE INDEX "tasks_terminal_finished_at_idx" ON "tasks" USING btree ("finished_at") WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED');