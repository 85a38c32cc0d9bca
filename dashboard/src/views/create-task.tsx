import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, type NewTask } from '../api';
import { Modal } from '../components/modal';
import { statusLabel } from '../format';
import { PRIORITIES, type Task, type TaskPriority, type TaskTypeList } from '../types';

type TaskType = TaskTypeList['items'][number];

/** The part of a JSON Schema property the form understands. */
interface Prop {
  type?: string | string[];
  enum?: unknown[];
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
}

const kindOf = (p: Prop): 'enum' | 'integer' | 'number' | 'boolean' | 'string' | 'json' => {
  if (p.enum) return 'enum';
  const t = Array.isArray(p.type) ? p.type.find((x) => x !== 'null') : p.type;
  return t === 'integer' || t === 'number' || t === 'boolean' || t === 'string' ? t : 'json';
};

const propsOf = (t: TaskType | undefined): Array<[string, Prop]> =>
  Object.entries(((t?.payload_schema as { properties?: Record<string, Prop> })?.properties ?? {}) as Record<string, Prop>);
const requiredOf = (t: TaskType | undefined): Set<string> => new Set((t?.payload_schema as { required?: string[] })?.required ?? []);

/** The payload the fields describe: empty fields are left out, so that the type's defaults apply. */
function payloadFrom(t: TaskType | undefined, values: Record<string, string | boolean>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, prop] of propsOf(t)) {
    const v = values[name];
    if (v === undefined || v === '') continue;
    const kind = kindOf(prop);
    if (kind === 'boolean') out[name] = v === true;
    else if (kind === 'integer' || kind === 'number') out[name] = Number(v);
    else if (kind === 'json') out[name] = safeParse(String(v));
    else out[name] = v;
  }
  return out;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A form for POST /api/v1/tasks; the payload fields come from the chosen type's JSON Schema (GET /api/v1/task-types). */
export function CreateTaskDialog(props: { onClose: () => void; onCreated: (t: Task) => void }) {
  const [types, setTypes] = useState<TaskType[]>();
  const [loadError, setLoadError] = useState('');
  const [typeName, setTypeName] = useState('');
  const [title, setTitle] = useState('');
  const [description, setDescription] = useState('');
  const [priority, setPriority] = useState<TaskPriority>('MEDIUM');
  const [maxAttempts, setMaxAttempts] = useState('');
  const [timeoutMs, setTimeoutMs] = useState('');
  const [start, setStart] = useState<'now' | 'delay' | 'at'>('now');
  const [delayS, setDelayS] = useState('');
  const [runAt, setRunAt] = useState('');
  const [callbackUrl, setCallbackUrl] = useState('');
  const [values, setValues] = useState<Record<string, string | boolean>>({});
  const [asJson, setAsJson] = useState(false);
  const [json, setJson] = useState('{}');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState('');
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api.taskTypes().then(
      (list) => {
        setTypes(list.items);
        setTypeName((list.items.find((t) => t.default) ?? list.items[0])?.name ?? '');
      },
      (err: Error) => setLoadError(err.message),
    );
  }, []);

  const type = types?.find((t) => t.name === typeName);
  const required = requiredOf(type);

  const switchJson = () => {
    if (!asJson) setJson(JSON.stringify(payloadFrom(type, values), null, 2));
    setAsJson(!asJson);
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setErrors({});
    setFormError('');
    let payload: Record<string, unknown>;
    if (asJson) {
      const parsed = safeParse(json);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
        setErrors({ payload: 'must be a JSON object' });
        return;
      }
      payload = parsed as Record<string, unknown>;
    } else payload = payloadFrom(type, values);
    const body: NewTask = { type: typeName, title, priority, payload };
    if (description.trim()) body.description = description;
    if (maxAttempts) body.max_attempts = Number(maxAttempts);
    if (timeoutMs) body.timeout_ms = Number(timeoutMs);
    if (start === 'delay' && delayS) body.delay_ms = Math.round(Number(delayS) * 1_000);
    // A datetime-local input gives a local time without a zone; the API takes an ISO time.
    if (start === 'at' && runAt) body.run_at = Number.isNaN(Date.parse(runAt)) ? runAt : new Date(runAt).toISOString();
    if (callbackUrl.trim()) body.callback_url = callbackUrl.trim();
    setBusy(true);
    try {
      props.onCreated(await api.create(body));
    } catch (err) {
      if (err instanceof ApiError && err.errors.length) {
        setErrors(Object.fromEntries(err.errors.map((x) => [x.path, x.message])));
        setFormError(err.message);
      } else setFormError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const fieldError = (path: string) => errors[path] && <span class="field-error">{errors[path]}</span>;

  return (
    <Modal
      title="New task"
      wide
      onClose={props.onClose}
      footer={
        <>
          <button type="button" class="ghost" onClick={props.onClose}>
            Close
          </button>
          <button type="submit" form="create-task" class="primary" disabled={busy || !types}>
            {busy ? 'Creating…' : 'Create task'}
          </button>
        </>
      }
    >
      {loadError && <p class="form-error">Could not load the task types: {loadError}</p>}
      <form id="create-task" class="form grid-form" onSubmit={submit}>
        <label class="field">
          <span>Type</span>
          <select
            value={typeName}
            onChange={(e) => {
              setTypeName(e.currentTarget.value);
              setValues({});
              setJson('{}');
            }}
            aria-label="Type"
          >
            {types?.map((t) => (
              <option key={t.name} value={t.name}>
                {t.name}
              </option>
            ))}
          </select>
          {type && <small class="help">{type.description}</small>}
          {fieldError('type')}
        </label>
        <fieldset class="field">
          <legend>Priority</legend>
          <div class="segmented">
            {PRIORITIES.map((p) => (
              <button
                type="button"
                key={p}
                class={priority === p ? 'active' : ''}
                onClick={() => setPriority(p)}
                aria-pressed={priority === p}
              >
                {statusLabel(p)}
              </button>
            ))}
          </div>
        </fieldset>
        <label class="field span-2">
          <span>
            Title <em class="req">required</em>
          </span>
          <input value={title} onInput={(e) => setTitle(e.currentTarget.value)} maxLength={255} aria-label="Title" />
          {fieldError('title')}
        </label>
        <label class="field span-2">
          <span>Description</span>
          <textarea rows={2} value={description} onInput={(e) => setDescription(e.currentTarget.value)} aria-label="Description" />
          {fieldError('description')}
        </label>
        <label class="field">
          <span>Max attempts</span>
          <input
            type="number"
            min={1}
            max={10}
            placeholder="service default"
            value={maxAttempts}
            onInput={(e) => setMaxAttempts(e.currentTarget.value)}
            aria-label="Max attempts"
          />
          {fieldError('max_attempts')}
        </label>
        <label class="field">
          <span>Timeout (ms)</span>
          <input
            type="number"
            min={100}
            max={type?.timeout_ms}
            placeholder={type ? `type default: ${type.timeout_ms.toLocaleString()}` : ''}
            value={timeoutMs}
            onInput={(e) => setTimeoutMs(e.currentTarget.value)}
            aria-label="Timeout (ms)"
          />
          {fieldError('timeout_ms')}
        </label>

        <fieldset class="field">
          <legend>Start</legend>
          <div class="segmented">
            {(
              [
                ['now', 'Now'],
                ['delay', 'After a delay'],
                ['at', 'At a time'],
              ] as const
            ).map(([value, label]) => (
              <button
                type="button"
                key={value}
                class={start === value ? 'active' : ''}
                onClick={() => setStart(value)}
                aria-pressed={start === value}
              >
                {label}
              </button>
            ))}
          </div>
          {fieldError('run_at')}
          {fieldError('delay_ms')}
        </fieldset>
        {start === 'delay' && (
          <label class="field">
            <span>Delay (seconds)</span>
            <input
              type="number"
              min={0}
              step="any"
              value={delayS}
              onInput={(e) => setDelayS(e.currentTarget.value)}
              aria-label="Delay (seconds)"
            />
          </label>
        )}
        {start === 'at' && (
          <label class="field">
            <span>Start time (local)</span>
            <input type="datetime-local" step={1} value={runAt} onInput={(e) => setRunAt(e.currentTarget.value)} aria-label="Start time" />
          </label>
        )}
        <label class="field span-2">
          <span>Callback URL</span>
          <input
            type="url"
            value={callbackUrl}
            placeholder="optional: https://example.com/hooks/tasks"
            onInput={(e) => setCallbackUrl(e.currentTarget.value)}
            aria-label="Callback URL"
          />
          <small class="help">The service POSTs the task here, signed, when it ends.</small>
          {fieldError('callback_url')}
        </label>

        <fieldset class="payload span-2">
          <legend>
            Payload <span class="muted">({typeName})</span>
            <button type="button" class="link-button" onClick={switchJson}>
              {asJson ? 'Edit as fields' : 'Edit as JSON'}
            </button>
          </legend>
          {asJson ? (
            <label class="field">
              <textarea class="code" rows={8} value={json} onInput={(e) => setJson(e.currentTarget.value)} aria-label="Payload JSON" />
            </label>
          ) : (
            <div class="grid-form">
              {propsOf(type).map(([name, prop]) => (
                <PayloadField
                  key={`${typeName}.${name}`}
                  name={name}
                  prop={prop}
                  required={required.has(name)}
                  value={values[name]}
                  onChange={(v) => setValues({ ...values, [name]: v })}
                  error={errors[`payload.${name}`]}
                />
              ))}
              {propsOf(type).length === 0 && <p class="muted">This type takes no payload.</p>}
            </div>
          )}
          {fieldError('payload')}
        </fieldset>
        {formError && <p class="form-error span-2">{formError}</p>}
      </form>
    </Modal>
  );
}

function PayloadField(props: {
  name: string;
  prop: Prop;
  required: boolean;
  value: string | boolean | undefined;
  onChange: (v: string | boolean) => void;
  error?: string;
}) {
  const { name, prop } = props;
  const kind = kindOf(prop);
  const label = (
    <span>
      {name} {props.required && <em class="req">required</em>}
    </span>
  );
  const help = prop.description && <small class="help">{prop.description}</small>;
  const error = props.error && <span class="field-error">{props.error}</span>;
  const placeholder = prop.default !== undefined ? `default: ${String(prop.default)}` : props.required ? '' : 'optional';
  if (kind === 'boolean') {
    return (
      <label class="field checkbox">
        <input type="checkbox" checked={props.value === true} onChange={(e) => props.onChange(e.currentTarget.checked)} aria-label={name} />
        {label}
        {help}
        {error}
      </label>
    );
  }
  if (kind === 'enum') {
    return (
      <label class="field">
        {label}
        <select value={String(props.value ?? '')} onChange={(e) => props.onChange(e.currentTarget.value)} aria-label={name}>
          <option value="">{prop.default !== undefined ? `default (${String(prop.default)})` : '—'}</option>
          {prop.enum?.map((v) => (
            <option key={String(v)} value={String(v)}>
              {String(v)}
            </option>
          ))}
        </select>
        {help}
        {error}
      </label>
    );
  }
  const long = kind === 'json' || (kind === 'string' && (prop.maxLength ?? 1_000) > 500);
  const value = String(props.value ?? '');
  const onInput = (e: { currentTarget: { value: string } }) => props.onChange(e.currentTarget.value);
  if (long) {
    return (
      <label class="field span-2">
        {label}
        <textarea
          rows={3}
          class={kind === 'json' ? 'code' : ''}
          value={value}
          placeholder={placeholder}
          onInput={onInput}
          aria-label={name}
        />
        {help}
        {error}
      </label>
    );
  }
  if (kind === 'string') {
    return (
      <label class="field">
        {label}
        <input type="text" value={value} placeholder={placeholder} onInput={onInput} aria-label={name} />
        {help}
        {error}
      </label>
    );
  }
  return (
    <label class="field">
      {label}
      <input
        type="number"
        step={kind === 'integer' ? 1 : 'any'}
        min={prop.minimum}
        max={prop.maximum}
        value={value}
        placeholder={placeholder}
        onInput={onInput}
        aria-label={name}
      />
      {help}
      {error}
    </label>
  );
}
