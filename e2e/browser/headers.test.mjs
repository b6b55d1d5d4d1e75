// The security headers of the pages' routes, as a browser receives and
// enforces them: nothing under /ui/ can be framed, sniffed or leak its URL.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, url } from './lib.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('page routes carry the security headers', async () => {
  const page = await newPage(browser);
  const resp = await page.goto(url('/ui/login/'));
  const h = await resp.allHeaders();
  assert.equal(h['x-content-type-options'], 'nosniff');
  assert.equal(h['x-frame-options'], 'DENY');
  assert.equal(h['referrer-policy'], 'no-referrer');
  assert.equal(h['cross-origin-opener-policy'], 'same-origin');
  const csp = h['content-security-policy'] ?? '';
  assert.match(csp, /(^|;)\s*frame-ancestors 'none'\s*(;|$)/, `CSP: ${csp}`);
  assert.match(csp, /(^|;)\s*default-src 'none'\s*(;|$)/, `CSP: ${csp}`);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, `CSP: ${csp}`);
});

test('the browser refuses to show a page route in a frame', async () => {
  const page = await newPage(browser);
  const refused = [];
  page.on('console', (msg) => {
    if (/frame-ancestors|X-Frame-Options/i.test(msg.text())) refused.push(msg.text());
  });
  // A page of another origin (about:blank's opener is nobody) frames the
  // sign-in page; the same page opened on its own loads.
  await page.setContent(`<iframe id="f" src="${url('/ui/login/')}" width="600" height="400"></iframe>`);
  const frame = await (await page.$('#f')).contentFrame();
  await frame.waitForLoadState('load').catch(() => {});
  await page.waitForTimeout(200); // the console message follows the load
  // A refused frame is Chromium's error page: nothing of ours is in it.
  const framed = await frame.evaluate(() => document.documentElement.outerHTML).catch(() => '');
  assert.doesNotMatch(framed, /Castellan|loginName/, 'the framed page rendered');
  assert.ok(refused.length > 0, 'Chromium did not report refusing the frame');
});
