import { handler as create } from '../functions/tasks-create';
import { handler as ping } from '../functions/ping';
import { fakeContext, httpEvent } from '../test/helpers/lambda';

async function loop(name: string, fn: any, ev: () => any, seconds: number) {
  let n = 0;
  const end = Date.now() + seconds * 1000;
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (Date.now() < end) { await fn(ev(), fakeContext()); n++; }
  }));
  const cpu = process.cpuUsage(cpu0);
  const el = (Date.now() - t0) / 1000;
  console.log(name, Math.round(n / el), 'req/s', ((cpu.user + cpu.system) / 1000 / n).toFixed(3), 'cpu ms/req');
}
async function main() {
  const body = { title: 'bench', payload: { duration_ms: 0 } };
  await loop('ping', ping, () => httpEvent({ method: 'GET', path: '/bench/ping' }), 2);
  await loop('create', create, () => httpEvent({ method: 'POST', path: '/api/v1/tasks', body }), 3);
  await loop('create', create, () => httpEvent({ method: 'POST', path: '/api/v1/tasks', body }), 5);
  process.exit(0);
}
main();
