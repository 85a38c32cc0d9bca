import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { shortId } from '../../dashboard/src/format';
import { launchChromium, requireChromium, screenshot } from '../helpers/browser';
import { request, useService } from '../helpers/offline';

type Task = { id: string; title: string; status: string };

// Browser tests of the dashboard in a headless Chromium, against serverless-offline and the queue bridge.
const hasChromium = requireChromium();
const tag = () => randomBytes(3).toString('hex');

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const DESKTOP = { viewport: { width: 1440, height: 1000 } };
// As a phone shows it: a mobile viewport widens its layout to what the page needs, as a phone's browser does.
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

/** The serious and critical violations axe-core finds in the page as it is now, one line each. */
async function axeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate('typeof window.axe !== "undefined"'))) await page.evaluate(AXE); // not a <script>: the page's CSP refuses inline ones
  type Violation = { id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> };
  const violations = (await page.evaluate('window.axe.run(document).then((r) => r.violations)')) as Violation[];
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

/** What does not fit the viewport: a page wider than the screen, an open dialog that reaches past an edge. */
async function layoutProblems(page: Page): Promise<string[]> {
  const { width, height } = page.viewportSize() as { width: number; height: number };
  const problems: string[] = [];
  const scrollWidth = (await page.evaluate('document.scrollingElement.scrollWidth')) as number;
  if (scrollWidth > width) problems.push(`the page is ${scrollWidth} px wide in a ${width} px viewport`);
  for (const dialog of await page.locator('dialog[open]').all()) {
    const box = await dialog.boundingBox();
    if (!box || box.x < 0 || box.y < 0 || box.x + box.width > width || box.y + box.height > height) {
      problems.push(`a dialog at ${JSON.stringify(box)} is not inside the ${width}x${height} viewport`);
    }
  }
  return problems;
}

/** Checks the page in its current state (fits, no serious accessibility violation) and saves a screenshot of it. */
async function checkState(page: Page, name: string): Promise<void> {
  await screenshot(page, name);
  expect(await layoutProblems(page), `${name}: layout`).toEqual([]);
  expect(await axeViolations(page), `${name}: axe-core`).toEqual([]);
}

/** A browser page on the dashboard of `baseUrl`, with the page's errors collected. */
function useBrowser(baseUrl: () => string) {
  const ctx = {} as { browser: Browser; context: BrowserContext; page: Page; errors: string[] };
  beforeAll(async () => {
    ctx.browser = await launchChromium();
  });
  afterAll(async () => {
    await ctx.browser?.close();
  });
  beforeEach(async () => {
    ctx.context = await ctx.browser.newContext({ viewport: { width: 1440, height: 1000 }, baseURL: baseUrl() });
    ctx.page = await ctx.context.newPage();
    ctx.errors = [];
    ctx.page.on('pageerror', (err) => ctx.errors.push(err.message));
  });
  afterEach(async () => {
    await ctx.context?.close();
    expect(ctx.errors, 'errors in the page').toEqual([]);
  });
  return ctx;
}

describe.runIf(hasChromium)('the dashboard in a browser', () => {
  const svc = useService({ bridge: true, env: { WORKER_CONCURRENCY: '2', WORKER_BATCH_SIZE: '1', OUTBOX_INTERVAL_MS: '500' } });
  const b = useBrowser(() => svc.baseUrl);
  const api = (method: string, path: string, body?: unknown) => request(svc.baseUrl, method, path, body);
  const createTask = async (body: object): Promise<Task> => {
    const res = await api('POST', '/api/v1/tasks', body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as Task;
  };
  const row = (id: string): Locator => b.page.locator(`tr[data-task-id="${id}"]`);
  // Generous: the first call of a function in serverless-offline loads it (a cold start of a second or more).
  const waitForStatus = (scope: Locator, label: string, timeout = 20_000) =>
    scope.locator('.badge', { hasText: label }).first().waitFor({ timeout });
  const search = async (text: string) => {
    await b.page.getByLabel('Search title or description').fill(text);
    await b.page.waitForURL((url) => url.searchParams.get('search') === text);
  };

  it('opens on the tasks, the statistics and the charts', async () => {
    const res = await b.page.goto('/dashboard');
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("default-src 'self'");
    await b.page.getByText('No tasks yet.').waitFor();
    await b.page.getByRole('heading', { name: 'Throughput, last hour' }).waitFor();
    expect(await b.page.getByTestId('count-COMPLETED').textContent()).toBe('0');
    expect(await b.page.getByTestId('queue-depth').textContent()).toBe('0');
    // uPlot draws on a canvas the width of its card.
    const canvas = b.page.getByTestId('throughput-chart').locator('canvas');
    expect((await canvas.boundingBox())?.width).toBeGreaterThan(400);
    await b.page.getByTestId('status-chart').locator('svg').waitFor();
  });

  it('creates a task with the form and shows it reach COMPLETED, with its progress, without a reload', async () => {
    const title = `form ${tag()}`;
    await b.page.goto('/dashboard');
    await b.page.evaluate('window.__sameDocument = true');
    await b.page.getByRole('button', { name: '+ New task' }).click();
    const dialog = b.page.getByRole('dialog', { name: 'New task' });
    await dialog.getByLabel('duration_ms').waitFor();
    await dialog.getByLabel('Title', { exact: true }).fill(title);
    await dialog.getByLabel('Description').fill('made by the browser test');
    await dialog.getByRole('button', { name: 'High' }).click();
    await dialog.getByLabel('duration_ms').fill('4000');
    await dialog.getByLabel('failure_rate').fill('0');
    await screenshot(b.page, 'create-task');
    await dialog.getByRole('button', { name: 'Create task' }).click();
    await dialog.waitFor({ state: 'detached' });
    await b.page.getByText(`Created “${title}”`).waitFor();

    const created = (await api('GET', `/api/v1/tasks?search=${encodeURIComponent(title)}`)).body.items[0];
    expect(created).toMatchObject({
      title,
      description: 'made by the browser test',
      priority: 'HIGH',
      payload: { duration_ms: 4000, failure_rate: 0 },
    });
    const r = row(created.id);
    await waitForStatus(r, 'In progress');
    const progress = new Set<string>();
    while (!(await r.locator('.badge', { hasText: 'Completed' }).count())) {
      const value = await r
        .locator('.progress-value')
        .textContent({ timeout: 1_000 })
        .catch(() => null);
      if (value) progress.add(value);
      await b.page.waitForTimeout(200);
    }
    expect(
      [...progress].some((p) => p !== '0%' && p !== '100%'),
      `progress seen: ${[...progress]}`,
    ).toBe(true);
    expect(await r.locator('.progress-value').textContent()).toBe('100%');
    expect(await b.page.evaluate('window.__sameDocument')).toBe(true);
  });

  it('finds a task by its id and shows its fields, payload, result and history', async () => {
    const task = await createTask({ title: `find me ${tag()}`, payload: { duration_ms: 300, failure_rate: 0 } });
    await b.page.goto('/dashboard');
    const find = b.page.getByLabel('Find a task by id');
    await find.fill('3f1c0e55-0000-4000-8000-000000000000');
    await find.press('Enter');
    await b.page.getByText('No task has this id').waitFor();
    await find.fill(`  ${task.id.toUpperCase()} `);
    await find.press('Enter');
    await b.page.waitForURL(`**/dashboard/tasks/${task.id}`);
    expect(await b.page.getByTestId('task-id').textContent()).toBe(task.id);
    await b.page.getByRole('heading', { name: task.title }).waitFor();
    await waitForStatus(b.page.locator('.task-head'), 'Completed');
    await b.page.getByTestId('task-result').getByText('"slept_ms": 300').waitFor();
    const timeline = b.page.getByTestId('timeline').locator('li');
    await expect
      .poll(() => timeline.locator('.badge').allTextContents(), { timeout: 15_000 })
      .toEqual(['New', 'Pending', 'In progress', 'Completed']);
    await screenshot(b.page, 'task', true);
    await b.page.getByRole('link', { name: '← All tasks' }).click();
    await row(task.id).waitFor();
  });

  it('cancels and retries a task from its row and from its page', async () => {
    const t = tag();
    const task = await createTask({ title: `act ${t}`, payload: { duration_ms: 60_000 } });
    await b.page.goto(`/dashboard?search=act%20${t}`);
    const r = row(task.id);
    await r.getByRole('button', { name: 'Cancel' }).click();
    await waitForStatus(r, 'Cancelled', 15_000);
    await r.getByRole('button', { name: 'Retry' }).click();
    await r.locator('.badge', { hasText: /Pending|In progress/ }).waitFor({ timeout: 15_000 });

    await r.getByRole('link', { name: task.title }).click();
    await b.page.getByRole('button', { name: 'Cancel task' }).click();
    await waitForStatus(b.page.locator('.task-head'), 'Cancelled', 15_000);
    await b.page.getByRole('button', { name: 'Retry task' }).click();
    await b.page.locator('.task-head .badge', { hasText: /Pending|In progress/ }).waitFor({ timeout: 15_000 });
    await expect
      .poll(() => b.page.getByTestId('timeline').locator('.badge').allTextContents(), { timeout: 15_000 })
      .toEqual(expect.arrayContaining(['Cancelled']));
    expect((await api('DELETE', `/api/v1/tasks/${task.id}`)).status).toBe(200);
  });

  it('cancels and retries a selection of tasks, with a result for each', async () => {
    const t = tag();
    const done = await createTask({ title: `bulk ${t} done`, payload: { duration_ms: 0, failure_rate: 0 } });
    const long = [];
    for (let i = 0; i < 5; i++) long.push(await createTask({ title: `bulk ${t} long ${i}`, payload: { duration_ms: 60_000 } }));
    await b.page.goto('/dashboard');
    await search(`bulk ${t}`);
    await waitForStatus(row(done.id), 'Completed');
    await b.page.getByLabel('Select every task on this page').check();
    await b.page.getByText('6 tasks selected').waitFor();

    // The confirmation counts only the tasks the action applies to, and sends only those.
    await b.page.getByRole('button', { name: 'Cancel selected' }).click();
    const confirm = b.page.getByRole('dialog', { name: 'Cancel 6 selected tasks?' });
    await confirm.getByText('5 tasks of 6 can be cancelled; the other task (already finished) will be left as it is.').waitFor();
    await confirm.getByRole('button', { name: 'Cancel 5 of 6 tasks (1 already finished)' }).click();
    const results = b.page.getByRole('dialog', { name: 'Cancel 5 tasks: results' });
    await results.getByTestId('bulk-summary').getByText('5 cancelled').waitFor();
    await results.getByText('0 refused').waitFor();
    await results.getByText('the other task (already finished) left as it was.').waitFor();
    expect(await results.locator(`tr[data-result-id="${done.id}"]`).count()).toBe(0);
    for (const l of long) expect(await results.locator(`tr[data-result-id="${l.id}"] .badge`).textContent()).toBe('Cancelled');
    await screenshot(b.page, 'bulk-results');
    await results.getByRole('button', { name: 'Done' }).click();
    for (const l of long) await waitForStatus(row(l.id), 'Cancelled', 15_000);

    await b.page.getByLabel('Select every task on this page').check();
    await b.page.getByRole('button', { name: 'Retry selected' }).click();
    await b.page
      .getByRole('dialog', { name: 'Retry 6 selected tasks?' })
      .getByRole('button', { name: 'Retry 5 of 6 tasks (1 not failed or cancelled)' })
      .click();
    const retried = b.page.getByRole('dialog', { name: 'Retry 5 tasks: results' });
    await retried.getByText('5 queued again').waitFor();
    await retried.getByRole('button', { name: 'Done' }).click();

    // Nothing to do: the button says so and cannot be pressed.
    await b.page.getByLabel(`Select ${done.title}`).check();
    await b.page.getByText('1 task selected').waitFor();
    await b.page.getByRole('button', { name: 'Cancel selected' }).click();
    const none = b.page.getByRole('dialog', { name: 'Cancel 1 selected task?' });
    await none.getByText('None of the selected tasks can be cancelled: it is already finished.').waitFor();
    expect(await none.getByRole('button', { name: 'Cancel 0 of 1 task (1 already finished)' }).isDisabled()).toBe(true);
    await none.getByRole('button', { name: 'Back' }).click();
    const after = await api('POST', '/api/v1/tasks/bulk', { action: 'cancel', ids: long.map((l) => l.id) });
    expect(after.body.succeeded).toBe(5);
  });

  it('filters by status, type and priority, searches, and pages through the tasks', async () => {
    const t = tag();
    for (let i = 0; i < 22; i++) {
      await createTask({
        title: `page ${t} ${String(i).padStart(2, '0')}`,
        priority: i % 2 ? 'LOW' : 'HIGH',
        payload: { duration_ms: 0, failure_rate: 0 },
      });
    }
    const sum = await createTask({ type: 'checksum', title: `page ${t} sum`, payload: { text: 'abc' } });
    await b.page.goto('/dashboard');
    await search(`page ${t}`);
    await b.page.getByTestId('pager-summary').getByText('1–20 of 23 tasks').waitFor();
    // Sorting orders the page shown (the list API has one order): ascending, descending, then the API's order again.
    const titles = () => b.page.locator('tbody .task-title').allTextContents();
    const newestFirst = await titles();
    const header = b.page.getByRole('columnheader', { name: 'Task', exact: true });
    const sortedAs = async (dir: string, order: string[]) => {
      await expect.poll(() => header.getAttribute('aria-sort')).toBe(dir);
      await expect.poll(titles).toEqual(order);
    };
    await header.getByRole('button').click();
    await sortedAs(
      'ascending',
      [...newestFirst].sort((x, y) => x.localeCompare(y)),
    );
    expect(b.page.url()).toContain('sort=title');
    await header.getByRole('button').click();
    await sortedAs(
      'descending',
      [...newestFirst].sort((x, y) => y.localeCompare(x)),
    );
    await header.getByRole('button').click();
    await sortedAs('none', newestFirst);

    await b.page.getByRole('button', { name: 'Next ›' }).click();
    await b.page.getByTestId('pager-summary').getByText('21–23 of 23 tasks').waitFor();
    expect(b.page.url()).toContain('page=2');

    await b.page.getByLabel('Type').selectOption('checksum');
    await b.page.getByTestId('pager-summary').getByText('1–1 of 1 task').waitFor();
    await row(sum.id).waitFor();
    await b.page.getByLabel('Type').selectOption('');
    await b.page.getByLabel('Priority').selectOption('LOW');
    await b.page.getByTestId('pager-summary').getByText('1–11 of 11 tasks').waitFor();
    await b.page.getByLabel('Priority').selectOption('');
    await b.page.getByTestId('pager-summary').getByText('1–20 of 23 tasks').waitFor();
    await b.page.getByLabel('Select every task on this page').check();
    await b.page.getByRole('button', { name: 'Select all 23 matching' }).click();
    await b.page.getByText('23 tasks selected').waitFor();
    await b.page.getByRole('button', { name: 'Clear selection' }).click();

    await expect
      .poll(async () => (await api('GET', `/api/v1/tasks?search=page%20${t}&status=COMPLETED`)).body.total, { timeout: 30_000 })
      .toBe(23);
    await b.page.getByRole('group', { name: 'Status' }).getByRole('button', { name: 'Failed' }).click();
    await b.page.getByText('No task matches these filters.').waitFor();
    await b.page.getByRole('group', { name: 'Status' }).getByRole('button', { name: 'Completed' }).click();
    await b.page.getByTestId('pager-summary').getByText('of 23 tasks').waitFor();
    expect(b.page.url()).toContain('status=FAILED%2CCOMPLETED');
    await b.page.getByRole('button', { name: 'Clear filters' }).click();
    await b.page.waitForURL(/\/dashboard$/);
  });

  it('draws the statistics: status counts and the throughput of the last hour', async () => {
    // A task of this minute, for the hover over the last minutes below, however long the earlier tests took.
    await createTask({ title: `chart ${tag()}`, payload: { duration_ms: 0, failure_rate: 0 } });
    const stats = (await api('GET', '/api/v1/stats')).body;
    await b.page.goto('/dashboard');
    await expect.poll(() => b.page.getByTestId('count-COMPLETED').textContent(), { timeout: 10_000 }).not.toBe('0');
    const completed = Number(await b.page.getByTestId('count-COMPLETED').textContent());
    expect(completed).toBeGreaterThanOrEqual(stats.by_status.COMPLETED);
    const legend = b.page.getByTestId('status-chart');
    expect(await legend.locator('circle').count()).toBeGreaterThan(1);
    await legend.getByText(String(stats.total)).first().waitFor();
    // uPlot's legend shows a value per series under the cursor: hovering over the last minutes shows what was created
    // (the last two: the tasks of this file may have been created just before a new minute began).
    const canvas = b.page.getByTestId('throughput-chart').locator('.u-over');
    const box = (await canvas.boundingBox()) as { x: number; y: number; width: number; height: number };
    const created = b.page.getByTestId('throughput-chart').locator('.u-series').nth(1).locator('.u-value');
    const createdInLastMinutes = async () => {
      let most = 0;
      for (const x of [box.x + box.width - 2, box.x + box.width - 2 - box.width / 60]) {
        await b.page.mouse.move(x, box.y + box.height / 2);
        most = Math.max(most, Number(await created.textContent()));
      }
      return most;
    };
    await expect.poll(createdInLastMinutes, { timeout: 15_000 }).toBeGreaterThan(0);
    await b.page.mouse.move(0, 0);
    await screenshot(b.page, 'dashboard', true);
  });

  it.each([
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const)('fits a %s screen, every dialog in view, with no serious accessibility violation', async (name, device) => {
    const t = tag();
    // Three tasks of which one can be cancelled: a finished one, a running one, a failed one.
    await createTask({ title: `fit ${t} done`, priority: 'LOW', payload: { duration_ms: 0, failure_rate: 0 } });
    const running = await createTask({ title: `fit ${t} a task with a long title that has to wrap`, payload: { duration_ms: 60_000 } });
    const failed = await createTask({ title: `fit ${t} failed`, max_attempts: 1, payload: { duration_ms: 0, failure_rate: 1 } });
    const context = await b.browser.newContext({ ...device, baseURL: svc.baseUrl });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    try {
      await page.goto('/dashboard');
      await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
      await page.getByTestId('queue-depth').waitFor();
      await page.locator(`tr[data-task-id="${running.id}"] .badge`, { hasText: 'In progress' }).waitFor({ timeout: 20_000 });
      await page.locator(`tr[data-task-id="${failed.id}"] .badge`, { hasText: 'Failed' }).waitFor({ timeout: 20_000 });
      await checkState(page, `${name}-tasks`);
      await screenshot(page, `${name}-tasks-full`, true);

      await page.getByRole('button', { name: '+ New task' }).click();
      const create = page.getByRole('dialog', { name: 'New task' });
      await create.getByLabel('duration_ms').waitFor();
      await checkState(page, `${name}-new-task`);
      await page.keyboard.press('Escape');
      await create.waitFor({ state: 'detached' });

      await page.getByLabel('Search title or description').fill(`fit ${t}`);
      await page.getByTestId('pager-summary').getByText('1–3 of 3 tasks').waitFor();
      await page.getByLabel('Select every task on this page').check();
      await page.getByRole('button', { name: 'Cancel selected' }).click();
      const bulk = page.getByRole('dialog', { name: 'Cancel 3 selected tasks?' });
      await bulk.getByRole('button', { name: 'Cancel 1 of 3 tasks (2 already finished)' }).waitFor();
      await checkState(page, `${name}-bulk`);
      await bulk.getByRole('button', { name: 'Back' }).click();

      await page.getByRole('button', { name: 'API key' }).click();
      await page.getByRole('dialog', { name: 'API key' }).waitFor();
      await checkState(page, `${name}-api-key`);
      await page.keyboard.press('Escape');

      // Find-by-id is in view and takes an id on a phone too.
      const find = page.getByLabel('Find a task by id');
      await page.evaluate('window.scrollTo(0, 0)');
      expect(await find.isVisible()).toBe(true);
      const box = await find.boundingBox();
      expect(box && box.x >= 0 && box.x + box.width <= device.viewport.width && box.width >= 200, JSON.stringify(box)).toBe(true);
      await find.fill(failed.id);
      await find.press('Enter');
      await page.waitForURL(`**/dashboard/tasks/${failed.id}`);
      await page.getByRole('heading', { level: 1, name: failed.title }).waitFor();
      await page.getByTestId('task-error').waitFor();
      await checkState(page, `${name}-task`);
      await screenshot(page, `${name}-task-full`, true);
      expect(errors, 'errors in the page').toEqual([]);
    } finally {
      await context.close();
      await api('DELETE', `/api/v1/tasks/${running.id}`);
    }
  });

  it('shows the error of each failed attempt on the task page', async () => {
    const task = await createTask({ title: `attempts ${tag()}`, max_attempts: 1, payload: { duration_ms: 0, failure_rate: 1 } });
    await expect.poll(async () => (await api('GET', `/api/v1/tasks/${task.id}`)).body.status, { timeout: 20_000 }).toBe('FAILED');
    const { error } = (await api('GET', `/api/v1/tasks/${task.id}`)).body as { error: string };
    // Until the service's events carry `attempt` and `error`, the failed attempt's event is given them here, as the
    // service will send them; once they do, their own are shown.
    let sent: Array<{ attempt?: number; error?: string }> = [];
    await b.page.route(`**/api/v1/tasks/${task.id}/events`, async (route) => {
      const res = await route.fetch();
      const body = (await res.json()) as {
        items: Array<{ from_status: string | null; to_status: string; attempt?: number; error?: string }>;
      };
      for (const e of body.items) if (e.to_status === 'FAILED' && e.error === undefined) Object.assign(e, { attempt: 1, error });
      sent = body.items;
      await route.fulfill({ response: res, json: body });
    });
    await b.page.goto(`/dashboard/tasks/${task.id}`);
    const list = b.page.getByTestId('attempt-errors');
    await list.waitFor();
    const failedAttempts = sent.filter((e) => e.error);
    expect(failedAttempts.length).toBeGreaterThan(0);
    expect(await list.locator('li pre').allTextContents()).toEqual(failedAttempts.map((e) => e.error));
    expect(await list.locator('li strong').allTextContents()).toEqual(failedAttempts.map((e) => `Attempt ${e.attempt}`));
    await b.page.getByTestId('timeline').getByText('attempt 1').waitFor();
    await b.page.getByTestId('timeline').locator('.timeline-error', { hasText: error }).waitFor();
  });

  /** A task failed for good (one attempt, failure_rate 1), once the service has written its dead letter. */
  const failedForGood = async (title: string): Promise<{ task: Task; deadLetterId: string }> => {
    const task = await createTask({ title, max_attempts: 1, payload: { duration_ms: 0, failure_rate: 1 } });
    let deadLetterId = '';
    await expect
      .poll(
        async () => {
          const items = (await api('GET', '/api/v1/dead-letters?queue=tasks&limit=100')).body.items as Array<{
            id: string;
            task_id: string;
          }>;
          deadLetterId = items.find((d) => d.task_id === task.id)?.id ?? '';
          return deadLetterId;
        },
        { timeout: 20_000 },
      )
      .not.toBe('');
    return { task, deadLetterId };
  };

  it('schedules a task with a delay and a callback_url from the form: countdown in the list and on its page', async () => {
    const title = `later ${tag()}`;
    await b.page.goto('/dashboard');
    await b.page.getByRole('button', { name: '+ New task' }).click();
    const dialog = b.page.getByRole('dialog', { name: 'New task' });
    await dialog.getByLabel('duration_ms').waitFor();
    await dialog.getByLabel('Title', { exact: true }).fill(title);
    await dialog.getByRole('button', { name: 'After a delay' }).click();
    await dialog.getByLabel('Delay (seconds)').fill('90');
    await dialog.getByLabel('Callback URL').fill('ftp://example.com/hook');
    await dialog.getByRole('button', { name: 'Create task' }).click();
    await dialog.getByText('must be an http or https URL').waitFor();
    await dialog.getByLabel('Callback URL').fill('https://example.com/hooks/tasks');
    await dialog.getByRole('button', { name: 'Create task' }).click();
    await dialog.waitFor({ state: 'detached' });
    const task = (await api('GET', `/api/v1/tasks?search=${encodeURIComponent(title)}`)).body.items[0];
    expect(task).toMatchObject({ status: 'SCHEDULED', callback_url: 'https://example.com/hooks/tasks' });
    const due = Date.parse(task.run_at) - Date.parse(task.created_at);
    expect(due).toBeGreaterThan(89_000);
    expect(due).toBeLessThan(91_000);

    const r = row(task.id);
    await waitForStatus(r, 'Scheduled');
    await r.getByText(/^starts in 1 min ([12]\d|30) s$/).waitFor();
    await b.page.getByRole('group', { name: 'Status' }).getByRole('button', { name: 'Scheduled' }).click();
    await b.page.waitForURL((url) => url.searchParams.get('status') === 'SCHEDULED');
    await r.waitFor();
    await r.getByRole('link', { name: title }).click();
    const countdown = b.page.getByTestId('countdown');
    const first = await countdown.textContent();
    expect(first).toMatch(/^starts in 1 min \d+ s$/);
    await expect.poll(() => countdown.textContent(), { timeout: 5_000 }).not.toBe(first);
    await b.page.getByTestId('callbacks').getByText('Sent when the task ends.').waitFor();
    expect((await api('DELETE', `/api/v1/tasks/${task.id}`)).status).toBe(200);
  });

  it('shows the callback deliveries of a task, and says when it has no callback_url', async () => {
    const got: string[] = [];
    const receiver: Server = createServer((req, res) => {
      got.push(req.headers['x-delivery-id'] as string);
      res.writeHead(req.url === '/fail' && got.length === 1 ? 500 : 204).end();
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = receiver.address() as AddressInfo;
      const task = await createTask({
        title: `callback ${tag()}`,
        callback_url: `http://127.0.0.1:${port}/fail`,
        payload: { duration_ms: 0, failure_rate: 0 },
      });
      const plain = await createTask({ title: `no callback ${tag()}`, payload: { duration_ms: 0, failure_rate: 0 } });
      await b.page.goto(`/dashboard/tasks/${task.id}`);
      const table = b.page.getByTestId('callbacks').locator('tbody tr');
      await table.first().waitFor({ timeout: 20_000 });
      const cells = await table.first().locator('td').allTextContents();
      expect(cells[0]).toBe('1');
      expect(cells[1]).toBe('task.completed');
      expect(cells[3]).toBe('500');
      expect(cells[5]).toMatch(/500/);
      await screenshot(b.page, 'task-callbacks', true);
      await b.page.goto(`/dashboard/tasks/${plain.id}`);
      await b.page.getByTestId('callbacks').getByText('This task has no callback_url.').waitFor();
    } finally {
      receiver.close();
    }
  });

  it('creates, edits, triggers, disables and deletes a schedule, with 422 errors at their fields', async () => {
    const name = `nightly ${tag()}`;
    await b.page.goto('/dashboard/schedules');
    await b.page.getByRole('heading', { level: 1, name: 'Schedules' }).waitFor();
    await b.page.getByRole('button', { name: '+ New schedule' }).click();
    const dialog = b.page.getByRole('dialog', { name: 'New schedule' });
    await dialog.getByLabel('Name').fill(name);
    await dialog.getByLabel('Cron').fill('61 * * * *');
    await dialog.getByLabel('Time zone').fill('Mars/Olympus');
    await dialog.getByLabel('Type').selectOption('emulate');
    await dialog.getByLabel('Payload JSON').fill('{"duration_ms": 0, "failure_rate": 0}');
    await dialog.getByRole('button', { name: 'Create schedule' }).click();
    // Each error under its own field: the cron, the time zone, the task's blank title.
    const errorOf = (label: string) =>
      dialog.locator('label.field', { has: b.page.getByLabel(label, { exact: true }) }).locator('.field-error');
    await errorOf('Cron').waitFor();
    await errorOf('Time zone').getByText('must be an IANA time zone name').waitFor();
    await errorOf('Task title').waitFor();
    await screenshot(b.page, 'schedule-errors');
    await dialog.getByLabel('Cron').fill('0 3 * * *');
    await dialog.getByLabel('Time zone').fill('Europe/Berlin');
    await dialog.getByLabel('Task title', { exact: true }).fill(`${name} task`);
    await dialog.getByRole('button', { name: 'Create schedule' }).click();
    await dialog.waitFor({ state: 'detached' });

    const schedule = (await api('GET', '/api/v1/schedules?limit=100')).body.items.find((s: { name: string }) => s.name === name);
    expect(schedule).toMatchObject({ cron: '0 3 * * *', timezone: 'Europe/Berlin', enabled: true, task: { type: 'emulate' } });
    const r = b.page.locator(`tr[data-schedule-id="${schedule.id}"]`);
    await r.getByTestId('next-run').locator(`time[datetime="${schedule.next_run_at}"]`).waitFor();
    await r.getByTestId('last-run').getByText('never').waitFor();

    await r.getByRole('button', { name: 'Run now' }).click();
    const triggered = b.page.getByTestId('triggered');
    await triggered.getByRole('link', { name: `${name} task` }).waitFor();
    await r
      .getByTestId('last-run')
      .getByText(/just now|s ago/)
      .waitFor();
    await screenshot(b.page, 'schedules');

    await r.getByRole('switch', { name: `Enabled: ${name}` }).click();
    await r.getByTestId('next-run').getByText('— (disabled)').waitFor();
    expect((await api('GET', `/api/v1/schedules/${schedule.id}`)).body).toMatchObject({ enabled: false, next_run_at: null });

    await r.getByRole('button', { name: `Edit ${name}` }).click();
    const edit = b.page.getByRole('dialog', { name: `Edit “${name}”` });
    await edit.getByLabel('Cron').fill('*/10 * * * *');
    await edit.getByRole('button', { name: 'Save schedule' }).click();
    await edit.waitFor({ state: 'detached' });
    await r.getByText('*/10 * * * *').waitFor();

    await triggered.getByRole('link', { name: `${name} task` }).click();
    await b.page.getByRole('heading', { level: 1, name: `${name} task` }).waitFor();
    await waitForStatus(b.page.locator('.task-head'), 'Completed');
    await b.page.goBack();

    await r.getByRole('button', { name: `Delete ${name}` }).click();
    const confirm = b.page.getByRole('dialog', { name: `Delete “${name}”?` });
    await confirm.getByRole('button', { name: 'Delete schedule' }).click();
    await r.waitFor({ state: 'detached' });
    expect((await api('GET', `/api/v1/schedules/${schedule.id}`)).status).toBe(404);
  });

  it('pauses and resumes a task type and limits its concurrency, with a 422 at the field', async () => {
    await b.page.goto('/dashboard/task-types');
    const r = b.page.locator('tr[data-type="checksum"]');
    const toggle = r.getByRole('switch', { name: 'Running: checksum' });
    try {
      await toggle.click();
      await r.getByTestId('type-state').getByText('Paused').waitFor();
      const task = await createTask({ type: 'checksum', title: `held ${tag()}`, payload: { text: 'abc' } });
      await b.page.waitForTimeout(1_500);
      expect((await api('GET', `/api/v1/tasks/${task.id}`)).body.status).toBe('PENDING');
      await screenshot(b.page, 'task-types');
      await toggle.click();
      await r.getByTestId('type-state').getByText('Running').waitFor();
      await expect.poll(async () => (await api('GET', `/api/v1/tasks/${task.id}`)).body.status, { timeout: 20_000 }).toBe('COMPLETED');

      const limit = r.getByLabel('Concurrency limit of checksum');
      await limit.fill('0');
      await r.getByRole('button', { name: 'Save' }).click();
      await r.locator('.field-error').waitFor();
      await limit.fill('3');
      await r.getByRole('button', { name: 'Save' }).click();
      await expect.poll(() => r.locator('.field-error').count()).toBe(0);
      await expect
        .poll(
          async () => (await api('GET', '/api/v1/task-types')).body.items.find((t: { name: string }) => t.name === 'checksum').concurrency,
        )
        .toBe(3);
      // Saved: the field shows the stored limit and there is nothing to save.
      await expect.poll(() => r.getByRole('button', { name: 'Save' }).isDisabled()).toBe(true);
      expect(await limit.inputValue()).toBe('3');
      await limit.fill('');
      await r.getByRole('button', { name: 'Save' }).click();
      await expect
        .poll(
          async () => (await api('GET', '/api/v1/task-types')).body.items.find((t: { name: string }) => t.name === 'checksum').concurrency,
        )
        .toBe(null);
    } finally {
      await api('PATCH', '/api/v1/task-types/checksum', { paused: false, concurrency: null });
    }
  });

  it('redrives a dead letter, discards one, and redrives a selection with a result for each', async () => {
    const t = tag();
    type Dead = Awaited<ReturnType<typeof failedForGood>>;
    const [one, two, three, four] = (await Promise.all([1, 2, 3, 4].map((i) => failedForGood(`dead ${t} ${i}`)))) as [
      Dead,
      Dead,
      Dead,
      Dead,
    ];
    await b.page.goto('/dashboard/dead-letters');
    await b.page.getByRole('heading', { level: 1, name: 'Dead letters' }).waitFor();
    await b.page.getByRole('group', { name: 'Queue' }).getByRole('button', { name: 'tasks', exact: true }).click();
    const dl = (id: string) => b.page.locator(`tr[data-dead-letter-id="${id}"]`);
    await dl(one.deadLetterId)
      .getByRole('link', { name: shortId(one.task.id) })
      .waitFor();
    await dl(one.deadLetterId).getByText('Message body').click();
    await dl(one.deadLetterId).locator('pre').getByText(one.task.id).waitFor();
    await screenshot(b.page, 'dead-letters');

    // One: back to PENDING with a fresh attempt budget (it fails again: a new dead letter).
    await dl(one.deadLetterId).getByRole('button', { name: 'Redrive' }).click();
    await b.page.getByText(`dead ${t} 1`, { exact: true }).waitFor();
    await dl(one.deadLetterId).waitFor({ state: 'detached' });
    expect((await api('GET', `/api/v1/tasks/${one.task.id}/events`)).body.items.length).toBeGreaterThan(4);

    await dl(two.deadLetterId).getByRole('button', { name: 'Discard' }).click();
    await b.page.getByRole('dialog', { name: 'Discard this dead letter?' }).getByRole('button', { name: 'Discard' }).click();
    await dl(two.deadLetterId).waitFor({ state: 'detached' });
    expect((await api('POST', `/api/v1/dead-letters/${two.deadLetterId}/redrive`)).status).toBe(404);

    // Many: the confirmation counts what is sent; the results name each dead letter and its task.
    await b.page.getByLabel(`Select dead letter ${shortId(three.deadLetterId)}`).check();
    await b.page.getByLabel(`Select dead letter ${shortId(four.deadLetterId)}`).check();
    await b.page.getByText('2 dead letters selected').waitFor();
    await b.page.getByRole('button', { name: 'Redrive selected' }).click();
    const confirm = b.page.getByRole('dialog', { name: 'Redrive 2 dead letters?' });
    expect(await confirm.getByTestId('redrive-counts').textContent()).toBe('2 messages of tasks');
    await screenshot(b.page, 'dead-letters-redrive');
    await confirm.getByRole('button', { name: 'Redrive 2 dead letters' }).click();
    const results = b.page.getByRole('dialog', { name: 'Redrive of 2 dead letters: results' });
    await results.getByTestId('redrive-summary').getByText('2 redriven').waitFor();
    await results.getByText('0 refused').waitFor();
    for (const x of [three, four]) {
      await results.locator(`tr[data-result-id="${x.deadLetterId}"]`).getByRole('link', { name: x.task.title }).waitFor();
    }
    await screenshot(b.page, 'dead-letters-results');
    await results.getByRole('button', { name: 'Done' }).click();
    await dl(three.deadLetterId).waitFor({ state: 'detached' });
  });

  it.each([
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const)(
    'fits the schedules, dead letters and task types pages on a %s screen, with no serious accessibility violation',
    async (name, device) => {
      const t = tag();
      const failing = failedForGood(`fit dead ${t}`);
      const schedule = await api('POST', '/api/v1/schedules', {
        name: `fit ${t} every five minutes, with a long name`,
        cron: '*/5 * * * *',
        task: { title: `fit ${t}`, payload: { duration_ms: 0 } },
      });
      expect(schedule.status).toBe(201);
      const scheduled = await createTask({ title: `fit ${t} later`, delay_ms: 600_000, callback_url: 'https://example.com/hook' });
      const context = await b.browser.newContext({ ...device, baseURL: svc.baseUrl });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      try {
        await page.goto('/dashboard/schedules');
        await page.getByRole('heading', { level: 1, name: 'Schedules' }).waitFor();
        await page.locator(`tr[data-schedule-id="${schedule.body.id}"]`).waitFor();
        await checkState(page, `${name}-schedules`);
        await page.getByRole('button', { name: '+ New schedule' }).click();
        await page.getByRole('dialog', { name: 'New schedule' }).getByLabel('Name').waitFor();
        await checkState(page, `${name}-new-schedule`);
        await page.keyboard.press('Escape');

        await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Task types' }).click();
        await page.getByRole('heading', { level: 1, name: 'Task types' }).waitFor();
        await page.locator('tr[data-type="emulate"]').waitFor();
        await checkState(page, `${name}-task-types`);

        const { deadLetterId } = await failing;
        await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Dead letters' }).click();
        await page.getByRole('heading', { level: 1, name: 'Dead letters' }).waitFor();
        await page.locator(`tr[data-dead-letter-id="${deadLetterId}"]`).getByText('Message body').click();
        await checkState(page, `${name}-dead-letters`);
        await page.getByLabel(`Select dead letter ${shortId(deadLetterId)}`).check();
        await page.getByRole('button', { name: 'Redrive selected' }).click();
        await page.getByRole('dialog', { name: 'Redrive 1 dead letter?' }).waitFor();
        await checkState(page, `${name}-redrive`);
        await page.keyboard.press('Escape');

        await page.goto(`/dashboard/tasks/${scheduled.id}`);
        await page.getByTestId('countdown').waitFor();
        await checkState(page, `${name}-scheduled-task`);
        expect(errors, 'errors in the page').toEqual([]);
      } finally {
        await context.close();
        await api('DELETE', `/api/v1/schedules/${schedule.body.id}`);
        await api('DELETE', `/api/v1/tasks/${scheduled.id}`);
      }
    },
  );

  it('turns the Live badge red while the API fails, and back when it answers', async () => {
    await b.page.goto('/dashboard');
    const live = b.page.getByTestId('live');
    await expect.poll(() => live.textContent()).toBe('Live');
    // No answer at all (the service is down or the network is gone).
    await b.page.route('**/api/v1/**', (route) => route.abort('connectionrefused'));
    await expect.poll(() => live.textContent(), { timeout: 10_000 }).toBe('Offline');
    expect(await live.getAttribute('class')).toContain('live-error');
    await b.page.getByRole('status').getByText('The service did not answer; is it running?').waitFor();
    await screenshot(b.page, 'live-offline');
    // An answer that is a server error.
    await b.page.unroute('**/api/v1/**');
    await b.page.route('**/api/v1/**', (route) =>
      route.fulfill({ status: 503, contentType: 'application/problem+json', json: { title: 'Service Unavailable', status: 503 } }),
    );
    await expect.poll(() => live.textContent(), { timeout: 10_000 }).toBe('Error');
    await b.page.unroute('**/api/v1/**');
    // One failing route among working ones: the badge stays red through the polls of the others, without flickering.
    await b.page.route('**/api/v1/stats', (route) =>
      route.fulfill({ status: 500, contentType: 'application/problem+json', json: { title: 'Internal Server Error', status: 500 } }),
    );
    await expect.poll(() => b.page.getByRole('status').textContent(), { timeout: 10_000 }).toContain('500');
    const seen = new Set<string | null>();
    for (let i = 0; i < 12; i++) {
      seen.add(await live.textContent());
      await b.page.waitForTimeout(250);
    }
    expect([...seen]).toEqual(['Error']);
    await b.page.unroute('**/api/v1/stats');
    await expect.poll(() => live.textContent(), { timeout: 10_000 }).toBe('Live');
    expect(await live.getAttribute('class')).toContain('live-live');
    // Paused, the badge says so; a failure still shows through.
    await live.click();
    await expect.poll(() => live.textContent()).toBe('Paused');
    await live.click();
    await expect.poll(() => live.textContent()).toBe('Live');
  });
});

describe.runIf(hasChromium)('the dashboard with API keys', () => {
  const key = 'dashboard-test-key-0123456789';
  const svc = useService({ env: { API_KEYS: key } });
  const b = useBrowser(() => svc.baseUrl);

  it('asks for the key when the API answers 401, keeps it, and then works', async () => {
    await b.page.goto('/dashboard');
    const dialog = b.page.getByRole('dialog', { name: 'API key' });
    await dialog.waitFor();
    await screenshot(b.page, 'api-key');
    await dialog.getByLabel('API key').fill('not-the-right-key-at-all');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByText('The API key is not valid').waitFor();
    await dialog.getByLabel('API key').fill(key);
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'detached' });
    await b.page.getByText('No tasks yet.').waitFor();
    await b.page.getByTestId('queue-depth').waitFor();

    await b.page.reload();
    await b.page.getByText('No tasks yet.').waitFor();
    expect(await b.page.getByRole('dialog').count()).toBe(0);
    expect(await b.page.evaluate(`localStorage.getItem('task-service.api-key')`)).toBe(key);
  });
});
