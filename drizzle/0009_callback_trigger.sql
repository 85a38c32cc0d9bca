-- A task with a callback_url that becomes COMPLETED, FAILED or CANCELLED gets its callback delivery row in the same
-- statement, whichever path made it terminal (a run's end, a cancel, the maintenance failing a lost run, a bulk
-- action): every one of them is an UPDATE of tasks.status, so this trigger is the one place, and no path can forget
-- it. The row keeps the task as it was then (the callback's body), and a notification wakes the senders on commit.
CREATE FUNCTION task_callback_on_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO callback_deliveries (task_id, event, url, task)
  VALUES (NEW.id, 'task.' || lower(NEW.status::text), NEW.callback_url,
    to_jsonb(NEW) - 'idempotency_key' - 'request_hash' - 'heartbeat_at');
  PERFORM pg_notify('callback_deliveries', '');
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER tasks_callback_on_end AFTER UPDATE OF status ON tasks FOR EACH ROW
  WHEN (NEW.callback_url IS NOT NULL AND NEW.status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION task_callback_on_end();
