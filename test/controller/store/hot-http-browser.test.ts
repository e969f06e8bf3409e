/**
 * A <video> in real headless Chromium (Debian's chromium, driven by playwright-core) plays the
 * generated WebM fixture (test/fixtures/video, ffprobe's figures beside it) from the phone's hot
 * cache over HTTP (hot-http.ts), with a grant in the URL: the duration and size are ffprobe's,
 * currentTime advances, a seek lands, the player asked by ranges (206). And while the item is still
 * incomplete: the first parts written, the video starts, the rest written, it plays on to the end;
 * and a seek into parts not written yet waits for them and lands once they are.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { UserDirectory } from '../../../controller/mesh/users.ts';
import { issueGrant } from '../../../controller/store/hot-http.ts';
import { testUsers } from '../../../harness/rigs/mesh.ts';
import { fixturePath } from '../../helpers/fixtures.ts';
import { needCommand } from '../../helpers/tools.ts';
import { OWNER, storeRig, type Rig } from './rig.ts';

const VIDEO = readFileSync(fixturePath('video/testsrc-4s.webm'));
const FIGURES = JSON.parse(readFileSync(fixturePath('video/testsrc-4s.figures.json'), 'utf8')) as { sha256: string; durationS: number; width: number; height: number };
/** 16 KiB parts: the 88 kB fixture is six of them. */
const PART = 16 * 1024;

async function launch(t: TestContext): Promise<Page | undefined> {
  if (!needCommand(t, 'chromium', 'chromium')) return undefined;
  const executablePath = execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  // Chromium's sandbox refuses to start as root (CI containers); muted videos may play without a gesture.
  const browser: Browser = await chromium.launch({ executablePath, args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--autoplay-policy=no-user-gesture-required'] });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  t.after(() => assert.deepEqual(errors, [], 'no page errors'));
  return page;
}

async function cdnRig(t: TestContext): Promise<Rig> {
  const users = new UserDirectory(await testUsers());
  return storeRig(t, { neighbours: 0, phoneAgent: { hotPartBytes: PART, http: { users, port: 0, host: '127.0.0.1', waitMs: 20_000 } } });
}

/** A page holding only the video, pointed at `src`. */
async function showVideo(page: Page, src: string): Promise<void> {
  await page.setContent(`<!doctype html><video id="v" muted preload="auto" src="${src}"></video>`);
}

type VideoState = { currentTime: number; duration: number; readyState: number; paused: boolean; ended: boolean; seeking: boolean; error: number | null; width: number; height: number };

function state(page: Page): Promise<VideoState> {
  // A string: the test's TypeScript has no DOM types.
  return page.evaluate<VideoState>(`(() => {
    const v = document.getElementById('v');
    return { currentTime: v.currentTime, duration: v.duration, readyState: v.readyState, paused: v.paused, ended: v.ended, seeking: v.seeking, error: v.error ? v.error.code : null, width: v.videoWidth, height: v.videoHeight };
  })()`);
}

async function until(page: Page, check: (s: VideoState) => boolean, ms: number, what: string): Promise<VideoState> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await state(page);
    if (s.error !== null) throw new Error(`the video failed (MediaError ${s.error}) waiting for ${what}: ${JSON.stringify(s)}`);
    if (check(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('hot http in Chromium: a <video> plays the WebM from the phone (currentTime advances, a seek lands), by range requests', { timeout: 60_000 }, async (t) => {
  assert.equal(createHash('sha256').update(VIDEO).digest('hex'), FIGURES.sha256, 'the fixture is the one ffprobe read');
  const page = await launch(t);
  if (!page) return;
  const rig = await cdnRig(t);
  await rig.client.request(OWNER, { op: 'hot-write', item: 'testsrc.webm', offset: 0, total: VIDEO.length, mime: 'video/webm' }, VIDEO);
  const http = rig.phone.http!;
  await showVideo(page, http.url('testsrc.webm', issueGrant(rig.phone.hot, { item: 'testsrc.webm', expiresAt: Date.now() + 60_000 })));

  const meta = await until(page, (s) => s.readyState >= 1, 15_000, 'the metadata');
  assert.ok(Math.abs(meta.duration - FIGURES.durationS) < 0.1, `duration ${meta.duration} s, ffprobe says ${FIGURES.durationS}`);
  assert.deepEqual([meta.width, meta.height], [FIGURES.width, FIGURES.height]);
  await page.evaluate(`document.getElementById('v').play()`);
  const playing = await until(page, (s) => s.currentTime > 0.3, 15_000, 'playback');
  await until(page, (s) => s.currentTime > playing.currentTime + 0.3, 15_000, 'currentTime advancing');

  // A seek near the end lands there, and playback goes on from it.
  await page.evaluate(`document.getElementById('v').currentTime = 3`);
  const seeked = await until(page, (s) => !s.seeking && s.currentTime >= 3, 15_000, 'the seek');
  assert.ok(seeked.currentTime < FIGURES.durationS, `landed at ${seeked.currentTime} s`);
  await until(page, (s) => s.ended || s.currentTime > seeked.currentTime + 0.2, 15_000, 'playback after the seek');
  assert.ok((http.counts.responses[206] ?? 0) >= 1, `the player asked by ranges: ${JSON.stringify(http.counts.responses)}`);
  assert.equal(http.counts.responses[200] ?? 0, 0, 'never the whole item in one 200');
});

test('hot http in Chromium: the video starts while the item is still incomplete and plays on as the rest is written', { timeout: 90_000 }, async (t) => {
  const page = await launch(t);
  if (!page) return;
  const rig = await cdnRig(t);
  const first = 2 * PART;
  await rig.client.request(OWNER, { op: 'hot-write', item: 'live.webm', offset: 0, total: VIDEO.length, mime: 'video/webm' }, VIDEO.subarray(0, first));
  const http = rig.phone.http!;
  await showVideo(page, http.url('live.webm', issueGrant(rig.phone.hot, { item: 'live.webm', expiresAt: Date.now() + 60_000 })));
  await page.evaluate(`document.getElementById('v').play()`);
  // It plays on the first parts alone: the rest is not on the phone yet.
  const started = await until(page, (s) => s.currentTime > 0.2, 20_000, 'playback on the first parts');
  assert.equal(rig.phone.hot.status('live.webm').complete, false);
  assert.ok(started.currentTime < FIGURES.durationS);
  // The prefetch goes on, part by part.
  for (let at = first; at < VIDEO.length; at += PART) {
    await new Promise((r) => setTimeout(r, 150));
    await rig.client.request(OWNER, { op: 'hot-write', item: 'live.webm', offset: at }, VIDEO.subarray(at, Math.min(VIDEO.length, at + PART)));
  }
  assert.equal(rig.phone.hot.status('live.webm').complete, true);
  const end = await until(page, (s) => s.ended, 30_000, 'the end of the video');
  assert.ok(Math.abs(end.currentTime - FIGURES.durationS) < 0.1, `ended at ${end.currentTime} s`);
  // The first 206 stopped where the phone's bytes did; the player asked again from there.
  assert.ok((http.counts.responses[206] ?? 0) >= 2, `ranges asked: ${JSON.stringify(http.counts.responses)}`);
  assert.equal(http.counts.bytes, VIDEO.length, 'every byte sent once');
});

test('hot http in Chromium: a seek into parts not on the phone yet waits for them and lands when they are written', { timeout: 90_000 }, async (t) => {
  const page = await launch(t);
  if (!page) return;
  const rig = await cdnRig(t);
  const parts = Math.ceil(VIDEO.length / PART);
  const write = (i: number) =>
    rig.client.request(OWNER, { op: 'hot-write', item: 'seek.webm', offset: i * PART, total: VIDEO.length, mime: 'video/webm' }, VIDEO.subarray(i * PART, Math.min(VIDEO.length, (i + 1) * PART)));
  // The start and the end (where WebM keeps its cues); the middle still to come.
  for (const i of [0, 1, parts - 1]) await write(i);
  const http = rig.phone.http!;
  await showVideo(page, http.url('seek.webm', issueGrant(rig.phone.hot, { item: 'seek.webm', expiresAt: Date.now() + 60_000 })));
  await page.evaluate(`document.getElementById('v').play()`);
  await until(page, (s) => s.currentTime > 0.1, 20_000, 'playback on the first parts');
  await page.evaluate(`document.getElementById('v').currentTime = 3`);
  // The bytes of second 3 are not on the phone: the seek waits.
  await new Promise((r) => setTimeout(r, 500));
  const pending = await state(page);
  assert.equal(pending.seeking, true, `the seek waits: ${JSON.stringify(pending)}`);
  assert.ok(pending.readyState < 3, 'no data for the new position yet');
  for (let i = 2; i < parts - 1; i++) await write(i);
  const landed = await until(page, (s) => !s.seeking && s.currentTime >= 3, 30_000, 'the seek');
  assert.ok(landed.currentTime < FIGURES.durationS + 0.1);
  await until(page, (s) => s.ended, 30_000, 'the end of the video');
  // The first parts came in one 206, the seek's bytes in another.
  assert.ok((http.counts.responses[206] ?? 0) >= 2, JSON.stringify(http.counts.responses));
});
