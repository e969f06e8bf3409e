/**
 * The dashboard in real headless Chromium (Debian's chromium driven by playwright-core) against
 * the simulated site running in this process: the page loads, logs in over MQTT-over-WebSocket,
 * shows all 25 drones on the map and in the table (all 25 rows on the page, no box holding 16 of
 * them), its charts advance with their y labels unclipped past 10 kW and a sensible time span
 * from their first point, an admin's confirmed actions change the simulation (one drone lands,
 * the uplink pauses, the net is recalled) and after the recall the fleet and power lines agree,
 * a reloaded page lists the day's earlier events (the launch), a viewer sees no action and the
 * broker refuses one anyway, a phone-sized screen has a compact header, 40 px touch targets, no
 * fleet column off to the side and no sideways scroll, and nothing is fetched from outside the
 * page's origin, with no console errors. Screenshots go to test-output/, and with
 * CANOPY_UPDATE_SCREENSHOTS=1 the README's two (desktop and phone) to docs/img/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { chromium, type Browser, type Page } from 'playwright-core';
import { addressOf, ChunkStore } from '../../../controller/store/chunk-store.ts';
import { PhoneAgent } from '../../../controller/store/phone-agent.ts';
import { eventually } from '../../helpers/events.ts';
import { connect, end, publishOutcome } from '../../../harness/rigs/mqtt.ts';
import { needCommand, repoRoot } from '../../helpers/tools.ts';
import { credentials } from '../../../harness/rigs/mesh.ts';
import { DEMO_ITEM, startDashboardSite } from './site.ts';

const OUTPUT = join(repoRoot, 'test-output', 'dashboard');
/** The screenshots the README shows. */
// The README's two screenshots are rewritten only when asked (`CANOPY_UPDATE_SCREENSHOTS=1 npm test -- browser`),
// so that a test run leaves the checkout as it was; otherwise they go to test-output/ with the rest.
const DOCS_IMG = process.env.CANOPY_UPDATE_SCREENSHOTS === '1' ? join(repoRoot, 'docs', 'img') : OUTPUT;
/** The least span a chart shows (main.ts MIN_SPAN_S), and the most a day's chart should, s. */
const MIN_SPAN_S = 15 * 60;
const MAX_SPAN_S = 2 * 24 * 3600;

interface Watch {
  errors: string[];
  foreign: string[];
}

/** Records console errors, page errors and any request (WebSockets included) leaving the page's origin. */
function watch(page: Page, origin: string): Watch {
  const w: Watch = { errors: [], foreign: [] };
  page.on('console', (m) => {
    if (m.type() === 'error') w.errors.push(m.text());
  });
  page.on('pageerror', (e) => w.errors.push(e.message));
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.protocol !== 'data:' && u.origin !== origin) w.foreign.push(r.url());
  });
  page.on('websocket', (ws) => {
    if (new URL(ws.url()).host !== new URL(origin).host) w.foreign.push(ws.url());
  });
  return w;
}

/** Logs in and waits for all 25 drones (unless `drones` is false: a site whose clock stands still has heard none yet). */
async function logIn(page: Page, url: string, who: { username: string; password: string }, drones = true): Promise<void> {
  await page.goto(url);
  await page.fill('input[name=username]', who.username);
  await page.fill('input[name=password]', who.password);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#app:not([hidden])', { timeout: 20_000 });
  if (drones) await until(async () => (await page.locator('#fleet tbody tr').count()) === 25 && (await page.locator('#map g.drone').count()) === 25, 30_000, 'all 25 drones in the table and on the map');
}

/** Clicks an action button, confirms in the dialog and returns the controller's answer (the toast). */
async function act(page: Page, selector: string): Promise<string> {
  const seq = await numberAttr(page, '#toast', 'data-seq');
  await page.click(selector);
  await page.waitForSelector('dialog#confirm[open]');
  await page.click('#confirm-ok');
  await until(async () => (await numberAttr(page, '#toast', 'data-seq')) > seq, 20_000, 'the controller answered');
  return text(page, '#toast');
}

// The page is read through locators and polled from here: the page's CSP forbids the eval that
// string predicates need, and the tests are type-checked without the DOM library.
async function numberAttr(page: Page, selector: string, attr: string): Promise<number> {
  return Number((await page.locator(selector).getAttribute(attr)) ?? 0);
}

const text = async (page: Page, selector: string) => (await page.locator(selector).textContent()) ?? '';

/**
 * The most opaque pixel in the leftmost two CSS pixels of a chart's canvas, and in its y axis's
 * first 40 (its labels): a label cut off at the left edge inks the first columns.
 */
async function leftEdgeInk(page: Page, selector: string): Promise<{ edge: number; labels: number }> {
  return page.evaluate<{ edge: number; labels: number }>(`(() => {
    const c = document.querySelector(${JSON.stringify(`${selector} canvas`)});
    const ctx = c.getContext('2d');
    const px = window.devicePixelRatio;
    const maxAlpha = (w) => { const d = ctx.getImageData(0, 0, Math.round(w * px), c.height).data; let m = 0; for (let i = 3; i < d.length; i += 4) m = Math.max(m, d[i]); return m; };
    return { edge: maxAlpha(2), labels: maxAlpha(40) };
  })()`);
}

/** Loads (W) as the power figures read them ("12.3 kW", "850 W"). */
async function loadsW(page: Page): Promise<number> {
  const m = /loads(\d+(?:\.\d+)?) (k?W)/.exec(await text(page, '#power-figures'));
  return m ? Number(m[1]) * (m[2] === 'kW' ? 1000 : 1) : 0;
}

/** What on a phone-sized page is too small to touch, off to the side, or taller than it should be. */
interface PhoneLayout {
  headerPx: number;
  viewportPx: number;
  smallButtons: string[];
  buttons: number;
  cellsOutside: number;
  cells: number;
  sideways: boolean;
}

async function phoneLayout(page: Page): Promise<PhoneLayout> {
  return page.evaluate<PhoneLayout>(`(() => {
    const visible = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; };
    const buttons = [...document.querySelectorAll('button')].filter(visible);
    const small = buttons.filter((b) => { const r = b.getBoundingClientRect(); return r.width < 40 || r.height < 40; }).map((b) => (b.textContent || b.getAttribute('aria-label') || '?') + ' ' + Math.round(b.getBoundingClientRect().width) + 'x' + Math.round(b.getBoundingClientRect().height));
    const card = document.querySelector('#fleet-card').getBoundingClientRect();
    const cells = [...document.querySelectorAll('#fleet tbody td')].filter(visible);
    const outside = cells.filter((td) => { const r = td.getBoundingClientRect(); return r.left < card.left || r.right > card.right + 0.5; });
    return {
      headerPx: document.querySelector('header').getBoundingClientRect().height,
      viewportPx: window.innerHeight,
      smallButtons: small,
      buttons: buttons.length,
      cellsOutside: outside.length,
      cells: cells.length,
      sideways: document.documentElement.scrollWidth > window.innerWidth,
    };
  })()`);
}

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('dashboard in headless Chromium: drones, live charts, admin actions, a viewer who cannot act', { timeout: 180_000 }, async (t) => {
  if (!needCommand(t, 'chromium', 'chromium')) return;
  const executablePath = execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  const { site, dashboard, mqttUrl } = await startDashboardSite(t, { speed: 20 });
  // The phone's store agent on the mesh, holding one chunk of the owner's.
  const store = new ChunkStore({ dir: mkdtempSync(join(tmpdir(), 'canopy-dashboard-store-')) });
  const chunk = Buffer.alloc(5000, 1);
  store.put({ addr: addressOf(chunk), body: chunk, cls: 'own', owner: 'phone' });
  const phone = new PhoneAgent({ store, url: mqttUrl, name: 'phone', ...credentials('phone') });
  await phone.start();
  t.after(async () => {
    await phone.stop();
    store.close();
  });
  const origin = new URL(dashboard.url).origin;
  mkdirSync(OUTPUT, { recursive: true });
  mkdirSync(DOCS_IMG, { recursive: true });
  // Chromium's sandbox refuses to start as root (CI containers).
  const browser: Browser = await chromium.launch({ executablePath, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
  t.after(() => browser.close());

  // ---- admin ------------------------------------------------------------------------------------
  const adminPage = await (await browser.newContext({ viewport: { width: 1280, height: 1800 } })).newPage();
  const adminWatch = watch(adminPage, origin);
  await logIn(adminPage, dashboard.url, credentials('admin'));
  assert.match(await text(adminPage, '#who'), /admin · admin/);
  assert.equal(await adminPage.isVisible('#actions'), true, 'an admin sees the action buttons');
  assert.equal(await adminPage.locator('#fleet button[data-action="drone/land"]').count(), 25, 'a land button per drone');
  // Every row on the page: the table's box does not scroll (it held 16 of them).
  assert.ok(await adminPage.evaluate<boolean>(`(() => { const b = document.querySelector('#fleet-card .scroll'); return b.scrollHeight <= b.clientHeight; })()`), 'all 25 rows shown, none scrolled out of a box');
  assert.ok(await adminPage.locator('#fleet tbody tr').last().isVisible());

  // Retained state showed at once; the live charts advance as the site's clock runs.
  await until(async () => (await numberAttr(adminPage, '#chart-power', 'data-points')) >= 1, 20_000, 'the power chart drawn');
  // Its newest point moves on in time (the day's history may arrive meanwhile and add older ones).
  const lastX = await numberAttr(adminPage, '#chart-power', 'data-last');
  await until(async () => (await numberAttr(adminPage, '#chart-power', 'data-last')) >= lastX + 10, 30_000, 'the power chart advancing');
  assert.ok((await numberAttr(adminPage, '#chart-forecast', 'data-points')) >= 96, 'the 24 h forecast is plotted');
  assert.match(await text(adminPage, '#forecast-source'), /^— from the measured sky \(no outside forecast\)$/, 'the chart says which forecast it shows');
  for (const chart of ['#chart-power', '#chart-forecast', '#chart-uplink']) {
    const span = await numberAttr(adminPage, chart, 'data-span');
    assert.ok(span >= MIN_SPAN_S && span <= MAX_SPAN_S, `${chart} spans ${span} s`);
  }
  assert.match(await text(adminPage, '#power-figures'), /generated today\d+ Wh/);

  assert.ok((await adminPage.locator('#timeline rect.window').count()) >= 2, 'contact windows on the 24-hour line');

  // The phone's usage by class, asked of its store agent over the store protocol.
  await until(async () => /own\s*1\s*5\.0 kB/.test(await text(adminPage, '#store-agents [data-agent="phone"]')), 15_000, "the phone's usage by class");

  // Prefetch: an admin queues a URL (the cache/prefetch bridge request); the queue shows it, then the phone's hot cache has it.
  assert.match(await text(adminPage, '#downlink-summary'), /into phone's hot cache/);
  await adminPage.fill('#prefetch-form input[name=item]', DEMO_ITEM.item);
  await adminPage.fill('#prefetch-form input[name=url]', site.contentUrl(DEMO_ITEM.item));
  await adminPage.selectOption('#prefetch-form select[name=class]', 'hot');
  assert.match(await act(adminPage, '#prefetch-form button[type=submit]'), new RegExp(`${DEMO_ITEM.item} queued \\(hot\\)`));
  const queued = `#downlink tr[data-item="${DEMO_ITEM.item}"]`;
  await until(async () => (await adminPage.locator(queued).count()) === 1, 15_000, 'the item in the downlink queue');
  await until(async () => (await adminPage.locator(queued).getAttribute('data-state')) === 'done', 60_000, 'the item prefetched');
  assert.match(await text(adminPage, queued), /^demo-episode\s*hot\s*(\d+\.\d) MB \/ \1 MB \(100 %\)\s*done/);
  const cached = `#hot-cache [data-agent="phone"] tr[data-item="${DEMO_ITEM.item}"]`;
  await until(async () => (await adminPage.locator(cached).getAttribute('data-complete')) === 'true', 15_000, "the item complete in the phone's hot cache");
  assert.match(await text(adminPage, cached), /(\d+\.\d) MB \/ \1 MB\s*\1 MB\s*complete/);
  assert.equal(site.app.downlink!.get(DEMO_ITEM.item)!.fetchedBytes, DEMO_ITEM.bytes, 'every byte fetched once');

  // The net going up past 10 kW of hover: the y labels ("10 kW"…) still fit their axis.
  await until(async () => (await loadsW(adminPage)) >= 10_000, 120_000, 'loads past 10 kW');
  await until(async () => (await numberAttr(adminPage, '#chart-power', 'data-last')) > lastX + 60, 20_000, 'the power chart redrawn');
  const ink = await leftEdgeInk(adminPage, '#chart-power');
  assert.ok(ink.labels > 0, 'the y axis has labels');
  assert.equal(ink.edge, 0, 'no y label runs off the left edge');
  await adminPage.screenshot({ path: join(DOCS_IMG, 'dashboard-desktop.png') });

  // Land one drone that holds the net: the simulated autopilot switches to LAND.
  await eventually(() => site.site.fleet.status().manned >= 2, 60_000, 'two stations manned');
  const holder = site.gs.vehicles.list().find((v) => site.site.fleet.role(v.sysid) === 'on-station')!;
  const landed = await act(adminPage, `#fleet tr[data-id="d${holder.sysid}"] button[data-action="drone/land"]`);
  assert.match(landed, new RegExp(`d${holder.sysid} is landing`));
  await eventually(() => site.sim.world.drones.find((d) => d.sysid === holder.sysid)?.mode === 'LAND', 20_000, `d${holder.sysid} in LAND`);
  // The operator's Land is an info line, not a failsafe alert; down off its pad, the drone gets a "Carried back" button.
  await until(async () => /landing where it is \(operator\)/.test(await text(adminPage, '#events')), 15_000, 'the Land in the event log as the operator\'s');
  assert.doesNotMatch(await text(adminPage, '#alerts'), new RegExp(`Failsafe: d${holder.sysid}\\b`));
  const carriedBack = `#fleet tr[data-id="d${holder.sysid}"] button[data-action="drone/carried-back"]`;
  await eventually(() => site.site.fleet.role(holder.sysid) === 'away', 60_000, `d${holder.sysid} down away from its pad`);
  await until(() => adminPage.isVisible(carriedBack), 15_000, 'the "Carried back" button');
  assert.match(await act(adminPage, carriedBack), /back on its pad \(charging\)/);

  // Pause the uplink: the relay keeps the dish off.
  assert.match(await act(adminPage, '#actions button[data-action="uplink/pause"]'), /uplink paused/);
  assert.equal(site.app.relay!.isPaused, true);
  await until(async () => /paused/.test(await text(adminPage, '#uplink-figures')), 15_000, 'the uplink shown paused');

  // Recall all: the net is held down and the drones on station head home.
  assert.match(await act(adminPage, '#actions button[data-action="fleet/recall"]'), /recalling all/);
  assert.equal(site.site.hold, true);
  await eventually(() => site.site.fleet.transitions.some((x) => x.to === 'returning' && /net shrinks/.test(x.reason)), 30_000, 'a drone sent home by the recall');
  await until(async () => /recalled/.test(await text(adminPage, '#fleet-summary')), 15_000, 'the fleet shown recalled');
  await until(async () => /admin fleet\/recall: recalling all/.test(await text(adminPage, '#events')), 15_000, 'the recall in the event log');
  await until(async () => /→ returning — net shrinks/.test(await text(adminPage, '#events')), 15_000, 'the fleet decision and its reason in the event log');
  // The fleet line and the power line say the same: held down, no station planned.
  await until(async () => /stations planned0/.test(await text(adminPage, '#power-figures')), 15_000, 'no station planned after the recall');
  assert.match(await text(adminPage, '#power-reason'), /^held down until an admin launches/);
  assert.match(await text(adminPage, '#fleet-summary'), /^recalled: held down until launched/);
  assert.doesNotMatch(await text(adminPage, '#fleet-summary'), /\d+\/0 stations/);
  await adminPage.screenshot({ path: join(OUTPUT, 'admin.png'), fullPage: true });

  // A reloaded page lists the day so far from the retained history: the launch, the recall.
  await adminPage.reload();
  await adminPage.waitForSelector('#app:not([hidden])', { timeout: 20_000 });
  await until(async () => /: ready → launching — /.test(await text(adminPage, '#events')), 15_000, 'the earlier launch replayed after a reload');
  assert.match(await text(adminPage, '#events'), /admin fleet\/recall: recalling all/);

  // ---- admin, on a phone-sized screen -------------------------------------------------------------
  const phoneAdmin = await (await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true })).newPage();
  const phoneWatch = watch(phoneAdmin, origin);
  await logIn(phoneAdmin, dashboard.url, credentials('admin'));
  await until(async () => (await phoneAdmin.locator('#fleet button[data-action="drone/land"]').count()) === 25, 15_000, 'the land buttons on the phone');
  const adminLayout = await phoneLayout(phoneAdmin);
  assert.ok(adminLayout.headerPx <= 0.13 * adminLayout.viewportPx, `the header takes ${adminLayout.headerPx} px of ${adminLayout.viewportPx}`);
  assert.ok(adminLayout.buttons >= 25, `${adminLayout.buttons} buttons measured`);
  assert.deepEqual(adminLayout.smallButtons, [], 'every button at least 40 × 40 px');
  assert.ok(adminLayout.cells >= 25 * 8, `${adminLayout.cells} fleet cells shown`);
  assert.equal(adminLayout.cellsOutside, 0, 'no fleet column off to the side');
  assert.equal(adminLayout.sideways, false, 'no sideways scrolling on a phone');
  await phoneAdmin.screenshot({ path: join(DOCS_IMG, 'dashboard-phone.png') });
  await phoneAdmin.screenshot({ path: join(OUTPUT, 'admin-phone.png'), fullPage: true });

  // ---- viewer, on a phone-sized screen ------------------------------------------------------------
  const viewerPage = await (await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true })).newPage();
  const viewerWatch = watch(viewerPage, origin);
  await logIn(viewerPage, dashboard.url, credentials('viewer'));
  assert.match(await text(viewerPage, '#who'), /viewer · viewer/);
  assert.equal(await viewerPage.isVisible('#actions'), false, 'a viewer sees no action buttons');
  assert.equal(await viewerPage.locator('button[data-action]:visible').count(), 0, 'no action anywhere on the page');
  assert.match(await text(viewerPage, '#store-agents'), /shown to admins/);
  // A viewer sees the downlink queue, not the phone's cache nor the form to queue.
  await until(async () => (await viewerPage.locator(queued).getAttribute('data-state')) === 'done', 15_000, 'the queue shown to a viewer');
  assert.match(await text(viewerPage, '#hot-cache'), /shown to admins/);
  assert.equal(await viewerPage.isVisible('#prefetch-form'), false, 'no prefetch form for a viewer');
  const viewerLayout = await phoneLayout(viewerPage);
  assert.equal(viewerLayout.sideways, false, 'no sideways scrolling on a phone');
  assert.equal(viewerLayout.cellsOutside, 0, 'no fleet column off to the side');
  assert.ok(viewerLayout.headerPx <= 0.1 * viewerLayout.viewportPx, `the header takes ${viewerLayout.headerPx} px of ${viewerLayout.viewportPx}`);
  await viewerPage.screenshot({ path: join(OUTPUT, 'viewer-phone.png'), fullPage: true });

  // The broker refuses a viewer's request whatever the page shows: the net stays recalled.
  const viewer = await connect(mqttUrl, credentials('viewer'));
  t.after(() => end(viewer));
  assert.equal(await publishOutcome(viewer, 'canopy/bridge/request/fleet/launch', '{}'), 'closed');
  assert.equal(site.site.hold, true, "a viewer's launch changed nothing");

  // What went wrong in the fleet on this (shared, loaded) machine, for whoever reads the output.
  for (const x of site.site.fleet.transitions.filter((x) => x.to === 'fault' || x.to === 'lost')) t.diagnostic(`d${x.sysid} ${x.from} → ${x.to}: ${x.reason}`);
  assert.deepEqual(adminWatch.errors, [], 'no console errors (admin)');
  assert.deepEqual(viewerWatch.errors, [], 'no console errors (viewer)');
  assert.deepEqual(phoneWatch.errors, [], 'no console errors (admin, phone)');
  assert.deepEqual([...adminWatch.foreign, ...viewerWatch.foreign, ...phoneWatch.foreign], [], 'nothing requested outside the page origin');
});

test('dashboard in headless Chromium: one power point spans a quarter hour, not years', { timeout: 120_000 }, async (t) => {
  if (!needCommand(t, 'chromium', 'chromium')) return;
  const executablePath = execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  // The clock stands still: the retained power state is the chart's one point.
  const s = await startDashboardSite(t, { speed: 'manual' });
  await s.site.runFast(1000);
  const browser: Browser = await chromium.launch({ executablePath, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
  t.after(() => browser.close());
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage();
  const w = watch(page, new URL(s.dashboard.url).origin);
  await logIn(page, s.dashboard.url, credentials('viewer'), false);
  await until(async () => (await numberAttr(page, '#chart-power', 'data-points')) >= 1, 20_000, 'the power chart drawn');
  assert.equal(await numberAttr(page, '#chart-power', 'data-points'), 1, 'one point');
  const span = await numberAttr(page, '#chart-power', 'data-span');
  assert.equal(span, MIN_SPAN_S, `the power chart spans ${span} s`);
  const uplinkSpan = await numberAttr(page, '#chart-uplink', 'data-span');
  assert.ok(uplinkSpan >= MIN_SPAN_S && uplinkSpan <= MAX_SPAN_S, `the uplink chart spans ${uplinkSpan} s`);
  assert.deepEqual(w.errors, [], 'no console errors');
});
