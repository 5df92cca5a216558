/**
 * The inspector page in a real headless Chromium (Debian's, driven by playwright-core): it
 * loads, shows the right states, follows a task live to completion, resolves a breakpoint
 * with its Approve button, and shows hostile titles as text without running them. Each run
 * keeps a screenshot in test-results/inspector.png (not tracked; docs/inspector.png is one of
 * them, copied by hand when the page changes).
 *
 * Skipped, saying so, where no Chromium is installed (.ci/run installs Debian's).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createOverseer, liveSource, replaySource, startInspector, type InspectionRecord, type InspectorServer, type Overseer } from '../runtime/index.js';
import { until as waitUntil } from './helpers/until.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`inspector-browser.test.ts: skipped: no Chromium at ${CHROMIUM} (install Debian's chromium, or set CHROMIUM_PATH)`);

const XSS_IMG = '<img src=x onerror=window.__xss=1>';
const XSS_SCRIPT = '</script><script>window.__xss=2</script>';

/** Polls a condition until a deadline (no fixed sleeps). */
const until = (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) => waitUntil(what, check, timeoutMs);

describe.skipIf(!HAVE_CHROMIUM)('the inspector page in Chromium', () => {
  let browser: Browser;
  let overseer: Overseer;
  let server: InspectorServer;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    overseer = createOverseer();
    overseer.scheduleTasks([
      { id: 'fetch', title: XSS_IMG, projectId: 'web' },
      { id: 'lint', title: XSS_SCRIPT, projectId: 'web' },
      { id: 'build', title: 'Build the bundle', dependencies: ['fetch'], projectId: 'web' },
      { id: 'deploy', title: 'Deploy', dependencies: ['build', 'lint'], projectId: 'web' },
    ]);
    server = await startInspector(liveSource(overseer), { batchMs: 50, title: 'release <b>plan</b>' });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(server.urlWithToken);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await overseer?.close();
  });

  const stateOf = (id: string) => page.locator(`tr[data-task="${id}"] td.state`).textContent();
  const nodeClass = (id: string) => page.locator(`#graph g.node[data-task="${id}"]`).getAttribute('class');

  it('loads and shows each task in its state, in the table and coloured in the plan graph', async () => {
    await until(async () => (await page.locator('tr[data-task]').count()) === 4, 'the task table');
    expect(await stateOf('fetch')).toBe('ready');
    expect(await stateOf('build')).toBe('pending');
    await until(async () => (await page.locator('#graph g.node').count()) === 4, 'the plan graph');
    expect(await nodeClass('fetch')).toContain('st-ready');
    expect(await nodeClass('deploy')).toContain('st-pending');
    expect(await page.locator('#counts [data-state="ready"]').textContent()).toBe('ready 2');
    await until(async () => (await page.locator('#chart-task g.node').count()) >= 8, 'the task statechart');
    expect(await page.locator('#access').textContent()).toBe('can act');
    // A small plan is drawn at its own size, not blown up to the column's width.
    const fit = await page.locator('#graph svg').evaluate((svg) => ({
      shown: svg.getBoundingClientRect().width,
      natural: (parseFloat(svg.getAttribute('width') ?? '0') * 4) / 3,
      room: svg.parentElement!.clientWidth,
    }));
    expect(fit.shown).toBeLessThanOrEqual(Math.min(fit.natural, fit.room) + 1);
    // The token left the address bar as soon as the page read it.
    expect(new URL(page.url()).hash).toBe('');
  });

  it('shows hostile titles as text and runs none of them', async () => {
    expect(await page.locator('tr[data-task="fetch"] td.title').textContent()).toBe(XSS_IMG);
    expect(await page.locator('tr[data-task="lint"] td.title').textContent()).toBe(XSS_SCRIPT);
    expect(await page.locator('#graph').textContent()).toContain(XSS_IMG);
    expect(await page.title()).toBe('release <b>plan</b>');
    expect(await page.locator('#tasks img, #graph img, #detail img, script:not([src])').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
  });

  it('follows a task live as it runs and completes', async () => {
    overseer.getNextTask('web');
    await until(async () => (await stateOf('fetch')) === 'running', 'fetch running');
    await page.locator('tr[data-task="fetch"]').click();
    await until(async () => (await page.locator('#chart-task g.node.current title').textContent()) === 'running', 'the statechart to highlight running');
    overseer.markComplete('fetch', { note: '<script>window.__xss=3</script>' });
    await until(async () => (await stateOf('fetch')) === 'completed', 'fetch completed');
    await until(async () => (await stateOf('build')) === 'ready', 'build ready');
    await until(async () => (await nodeClass('fetch'))?.includes('st-completed') ?? false, 'the graph node to turn completed');
    expect(await page.locator('#chart-task g.node.current title').textContent()).toBe('completed');
    expect(await page.locator('#detail pre.output').textContent()).toBe('{"note":"<script>window.__xss=3</script>"}');
    expect(await page.locator('#timeline li').first().textContent()).toMatch(/task:build\s+DEPENDENCIES_MET\s+pending → ready/);
    // Times to the millisecond, in their own column rather than list numbers that clip past 9.
    expect(await page.locator('#timeline li time').first().textContent()).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);
    expect(await page.locator('#timeline').evaluate((e) => e.ownerDocument.defaultView!.getComputedStyle(e).listStyleType)).toBe('none');
    expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
  });

  it('resolves a breakpoint with its Approve button', async () => {
    overseer.getNextTask('web'); // build (or lint) starts
    const bp = overseer.triggerBreakpoint('architecture_decision', { taskId: 'build' });
    const item = page.locator(`#pending li[data-bp="${bp.id}"]`);
    await until(async () => (await item.count()) === 1, 'the pending breakpoint');
    expect(await stateOf('build')).toBe('blocked');
    await item.locator('input.note').fill('<b>ok</b> ship it');
    await page.screenshot({ path: resolve('test-results/inspector.png'), fullPage: true });
    await item.locator('button.approve').click();
    await until(() => overseer.getBreakpoint(bp.id)!.state === 'resolved', 'the breakpoint to resolve');
    expect(overseer.getBreakpoint(bp.id)!.resolution).toMatchObject({ action: 'continue', by: 'inspector', note: '<b>ok</b> ship it' });
    await until(async () => (await page.locator(`#bp-history li[data-bp="${bp.id}"] .bp-state`).textContent().catch(() => null)) === 'resolved', 'the page to show it resolved');
    await until(async () => (await stateOf('build')) === 'ready', 'build released');
    expect(await page.locator(`#bp-history li[data-bp="${bp.id}"]`).textContent()).toContain('<b>ok</b> ship it');
    expect(errors).toEqual([]);
  });

  it('replays a trace with its time slider', async () => {
    const run = createOverseer();
    const records: InspectionRecord[] = [];
    run.inspect((r) => records.push(r), { current: false });
    run.scheduleTasks([{ id: 'a' }, { id: 'b', dependencies: ['a'] }]);
    run.getNextTask();
    run.markComplete('a');
    await run.close();
    const replay = await startInspector(replaySource(records));
    const view = await browser.newPage();
    try {
      await view.goto(replay.urlWithToken);
      await until(async () => (await view.locator('tr[data-task="a"] td.state').textContent().catch(() => null)) === 'completed', 'the final state');
      expect(await view.locator('#replay').isVisible()).toBe(true);
      expect(await view.locator('#mode').textContent()).toBe('replay');
      const firstStart = records.findIndex((r) => r.type === '@xstate.event' && r.event.type === 'START');
      await view.locator('#slider').fill(String(firstStart));
      await until(async () => (await view.locator('tr[data-task="a"] td.state').textContent()) === 'ready', 'the slider to go back in time');
      expect(await view.locator('tr[data-task="b"] td.state').textContent()).toBe('pending');
      expect(await view.locator('#slider-label').textContent()).toContain(`${firstStart} / ${records.length} records`);
    } finally {
      await view.close();
      await replay.close();
    }
  });

  it('asks before Cancel, and shows a paused project in the header', async () => {
    await page.locator('tr[data-task="deploy"]').click();
    const cancel = page.locator('#detail button.cancel');
    const asked: string[] = [];
    page.once('dialog', (d) => {
      asked.push(d.message());
      void d.dismiss();
    });
    await cancel.click();
    await until(() => asked.length === 1, 'the confirmation');
    expect(asked[0]).toMatch(/Cancel task deploy\?/);
    expect(overseer.getTaskStatus('deploy')!.state).toBe('pending');
    page.once('dialog', (d) => void d.accept());
    await cancel.click();
    await until(() => overseer.getTaskStatus('deploy')!.state === 'cancelled', 'deploy cancelled');
    overseer.pause('web');
    await until(async () => (await page.locator('#paused').textContent()) === 'paused: web', 'the paused project in the header');
    expect(await page.locator('#supervisor').textContent()).toBe('supervisor: running');
    overseer.resume('web');
    await until(async () => await page.locator('#paused').isHidden(), 'the paused badge to go');
  });

  it('is read-only without the token', async () => {
    const other = await browser.newPage();
    await other.goto(server.url);
    await until(async () => (await other.locator('tr[data-task]').count()) === 4, 'the read-only page');
    expect(await other.locator('#access').textContent()).toBe('read-only');
    overseer.triggerBreakpoint('architecture_decision', { taskId: 'deploy' });
    await until(async () => (await other.locator('#pending button.approve').count()) === 1, 'the second breakpoint');
    expect(await other.locator('#pending button.approve').isDisabled()).toBe(true);
    await other.close();
  });

  it('says the run finished, with its exit code, and stops reconnecting', async () => {
    await server.close({ status: 'completed', exitCode: 0 });
    await until(async () => (await page.locator('#conn').textContent()) === 'run finished (exit 0)', 'the finished badge');
    expect(errors).toEqual([]);
  });
});
