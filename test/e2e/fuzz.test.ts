import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { useService } from '../helpers/offline';

// A schema-driven fuzz test: requests generated from openapi.yaml (valid values, values at and past every
// bound, hostile strings), sent to the running service; no answer may be a 500, and every answer must match
// the response schema the document gives for its status.
type Schema = Record<string, any>;
const doc = parse(readFileSync('openapi.yaml', 'utf8')) as Schema;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ ...doc, $id: 'openapi' }, 'openapi');

const resolve = (s: Schema): Schema => (s?.$ref ? resolve(doc.components.schemas[s.$ref.split('/').pop()]) : s);

const HOSTILE = fc.constantFrom(
  "' OR 1=1; --",
  "'); DROP TABLE tasks; --",
  '\u0000',
  'a\u0000b',
  '\uD800',
  '%00',
  '../../etc/passwd',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '9'.repeat(400),
  '-1',
  '1e309',
  'NaN',
  'null',
  '',
  ' ',
  'x'.repeat(70_000),
);
const WEIRD = fc.oneof(
  HOSTILE,
  fc.constantFrom(null, true, false, 0, -1, 1e308, -1e308, 2 ** 53 + 1, 1.5, [], {}, [null], { $ne: 1 }),
  fc.string({ maxLength: 40, unit: 'binary' }),
);

/** Values for a schema: mostly valid, sometimes at a bound, sometimes hostile. */
function arb(schema: Schema, depth = 0): fc.Arbitrary<unknown> {
  const s = resolve(schema);
  if (!s || depth > 4) return WEIRD;
  if (s.anyOf) return fc.oneof(...s.anyOf.map((x: Schema) => arb(x, depth + 1)), WEIRD);
  if (s.enum) return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...s.enum) }, { weight: 1, arbitrary: WEIRD });
  const type = Array.isArray(s.type) ? s.type.find((t: string) => t !== 'null') : s.type;
  let valid: fc.Arbitrary<unknown>;
  switch (type) {
    case 'string':
      valid =
        s.format === 'uuid'
          ? fc.uuid()
          : s.format === 'date-time'
            ? fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString())
            : fc.string({ minLength: s.minLength ?? 0, maxLength: Math.min(s.maxLength ?? 40, 300) });
      if (s.maxLength) valid = fc.oneof(valid, fc.constant('y'.repeat(s.maxLength + 1)));
      break;
    case 'integer':
    case 'number':
      valid = fc.oneof(
        fc.integer({ min: s.minimum ?? -1_000_000, max: Math.min(s.maximum ?? 1_000_000, 2 ** 31) }),
        fc.constantFrom(...[s.minimum, s.maximum, (s.minimum ?? 0) - 1, (s.maximum ?? 0) + 1].filter((v) => v !== undefined)),
      );
      break;
    case 'boolean':
      valid = fc.boolean();
      break;
    case 'array':
      valid = fc.array(arb(s.items ?? {}, depth + 1), { maxLength: 4 });
      break;
    case 'object': {
      const props = Object.entries(s.properties ?? {}) as Array<[string, Schema]>;
      const required = new Set<string>(s.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, v] of props) record[k] = arb(v, depth + 1);
      valid = fc.record(record, { requiredKeys: props.map(([k]) => k).filter((k) => required.has(k)) });
      break;
    }
    default:
      valid = WEIRD;
  }
  return fc.oneof({ weight: 5, arbitrary: valid }, { weight: 1, arbitrary: WEIRD });
}

interface Operation {
  method: string;
  path: string;
  op: Schema;
}
const operations: Operation[] = Object.entries(doc.paths as Schema).flatMap(([path, item]) =>
  Object.entries(item as Schema).map(([method, op]) => ({ method: method.toUpperCase(), path, op: op as Schema })),
);

function requestArb({ method, path, op }: Operation) {
  const params = (op.parameters ?? []) as Schema[];
  const query = fc.record(Object.fromEntries(params.filter((p) => p.in === 'query').map((p) => [p.name, arb(p.schema)])), {
    requiredKeys: [],
  });
  const id = fc.oneof(
    { weight: 3, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: HOSTILE.filter((h) => h.trim() !== '' && !h.includes('/') && h.length < 500 && h !== '\uD800') },
  );
  const bodySchema = op.requestBody?.content?.['application/json']?.schema;
  const body = bodySchema
    ? fc.oneof(
        { weight: 6, arbitrary: arb(bodySchema) },
        {
          weight: 1,
          arbitrary: fc.constantFrom<string | Buffer>(
            '{"title":',
            '[]',
            'null',
            '"x"',
            '\u0000',
            `{"title":"x","payload":${'['.repeat(5000)}`,
            Buffer.from([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
          ),
        },
      )
    : fc.constant(undefined);
  return fc.record({ query, id, body }).map(({ query, id, body }) => {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, typeof v === 'string' ? v : JSON.stringify(v));
    const url = `${path.replace('{id}', encodeURIComponent(String(id)))}${qs.size ? `?${qs}` : ''}`;
    return { method, url, op, body: body === undefined || typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) };
  });
}

const svc = useService();

describe('fuzzing the HTTP API from openapi.yaml', () => {
  it('answers every generated request without a 500, with a body that matches the documented schema', async () => {
    const stats = { sent: 0, byStatus: {} as Record<number, number>, mismatches: [] as string[] };
    const perOperation = 60;
    for (const operation of operations) {
      const samples = fc.sample(requestArb(operation), { numRuns: perOperation, seed: 20261124 });
      for (const r of samples) {
        const res = await fetch(`${svc.baseUrl}${r.url}`, {
          method: r.method,
          headers: r.body === undefined ? {} : { 'content-type': 'application/json' },
          body: r.body,
          signal: AbortSignal.timeout(15_000),
        });
        const text = await res.text();
        stats.sent++;
        stats.byStatus[res.status] = (stats.byStatus[res.status] ?? 0) + 1;
        const where = `${r.method} ${r.url.slice(0, 120)} -> ${res.status}: ${text.slice(0, 200)}`;
        expect(res.status, where).toBeLessThan(500);
        const documented = r.op.responses[String(res.status)];
        if (!documented) {
          stats.mismatches.push(`undocumented status: ${where}`);
          continue;
        }
        const media = Object.entries(documented.content ?? {})[0] as [string, Schema] | undefined;
        if (!media) continue;
        expect(res.headers.get('content-type'), where).toContain(media[0]);
        // Text answers (GET /metrics, Prometheus text) have only their content type to check.
        if (!media[0].includes('json')) continue;
        const validate = ajv.compile(JSON.parse(JSON.stringify(media[1].schema).replaceAll('"#/components/', '"openapi#/components/')));
        if (!validate(JSON.parse(text))) stats.mismatches.push(`${where} ${ajv.errorsText(validate.errors)}`);
      }
    }
    console.log(
      `[fuzz] sent ${stats.sent} requests over ${operations.length} operations; answers ${JSON.stringify(stats.byStatus)}; schema mismatches ${stats.mismatches.length}`,
    );
    expect(stats.mismatches).toEqual([]);
    expect(stats.sent).toBeGreaterThanOrEqual(400);
  });
});
