-- Trigram indexes for the list's search (ILIKE '%...%'); pg_trgm is a trusted extension (PostgreSQL 13+, RDS).
CREATE EXTENSION IF NOT EXISTS pg_trgm;--> statement-breakpoint
CREATE TABLE "task_count_deltas" (
	"status" "task_status" NOT NULL,
	"type" text NOT NULL,
	"priority" "task_priority" NOT NULL,
	"n" bigint NOT NULL
);
--> statement-breakpoint
DROP INDEX "tasks_status_created_at_idx";--> statement-breakpoint
CREATE INDEX "tasks_status_created_at_id_idx" ON "tasks" USING btree ("status","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "tasks_title_trgm_idx" ON "tasks" USING gin ("title" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "tasks_description_trgm_idx" ON "tasks" USING gin ("description" gin_trgm_ops);--> statement-breakpoint
-- Counts by status, type and priority without counting the table: each statement that inserts, updates or deletes
-- tasks adds one delta row per group it changed (statement triggers with transition tables: no row-level trigger
-- work, and no shared counter row for concurrent writers to queue on). The maintenance folds the deltas together.
CREATE FUNCTION task_counts_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO task_count_deltas (status, type, priority, n)
  SELECT status, type, priority, count(*) FROM new_rows GROUP BY 1, 2, 3;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE FUNCTION task_counts_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO task_count_deltas (status, type, priority, n)
  SELECT status, type, priority, sum(n) FROM (
    SELECT status, type, priority, 1 AS n FROM new_rows
    UNION ALL
    SELECT status, type, priority, -1 AS n FROM old_rows
  ) d GROUP BY 1, 2, 3 HAVING sum(n) <> 0;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE FUNCTION task_counts_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO task_count_deltas (status, type, priority, n)
  SELECT status, type, priority, -count(*) FROM old_rows GROUP BY 1, 2, 3;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER tasks_count_insert AFTER INSERT ON tasks REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION task_counts_on_insert();--> statement-breakpoint
CREATE TRIGGER tasks_count_update AFTER UPDATE ON tasks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION task_counts_on_update();--> statement-breakpoint
CREATE TRIGGER tasks_count_delete AFTER DELETE ON tasks REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION task_counts_on_delete();--> statement-breakpoint
-- The tasks stored before: the triggers hold the table against writes until this migration commits.
INSERT INTO task_count_deltas (status, type, priority, n)
SELECT status, type, priority, count(*) FROM tasks GROUP BY 1, 2, 3;
--> statement-breakpoint
CREATE FUNCTION task_counts_on_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM task_count_deltas;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER tasks_count_truncate AFTER TRUNCATE ON tasks FOR EACH STATEMENT EXECUTE FUNCTION task_counts_on_truncate();
