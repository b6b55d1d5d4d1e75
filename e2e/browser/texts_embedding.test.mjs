// An instance's own texts on the sign-in page (escaped: markup in a text
// is shown, never run) and its frame ancestors: a page of an allowed
// origin shows the login in a frame, a page of another origin cannot.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { api, cspViolations, launch, newPage, url } from './lib.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await api('POST', '/v1/settings/texts:reset', {}).catch(() => {});
  await api('POST', '/v1/settings/embedding:reset', {}).catch(() => {});
  await browser?.close();
});

test('an overridden text shows, and a script in it is inert', async () => {
  const label = 'Work e-mail <script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">';
  await api('PUT', '/v1/settings/texts', {
    texts: { languages: { en: { texts: { 'Login name': label } }, de: { texts: { 'Login name': 'Firmen-E-Mail' } } } },
  });
  const page = await newPage(browser);
  const violations = cspViolations(page);
  await page.goto(url('/ui/login/?prompt=login'));
  await page.getByLabel(label, { exact: true }).fill('someone');
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.equal(await page.locator('main script, main img[src="x"]').count(), 0);
  assert.deepEqual(violations, []);
  // The other strings stay the catalogue's.
  assert.ok(await page.getByRole('button', { name: 'Next' }).isVisible());

  const de = await newPage(browser, { locale: 'de-DE' });
  await de.goto(url('/ui/login/?prompt=login&ui_locales=de'));
  assert.ok(await de.getByLabel('Firmen-E-Mail', { exact: true }).isVisible());
  assert.ok(await de.getByRole('button', { name: 'Weiter' }).isVisible());
});

// embedder serves, on a port of loopback, a page that frames the sign-in
// page: a real server, since Chromium refuses a public page (which a page
// made up by the test would be) to frame a local one. It returns its
// origin and a close function.
async function embedder() {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(`<!DOCTYPE html><title>embedder</title><iframe id="f" src="${url('/ui/login/?prompt=login')}" width="600" height="400"></iframe>`);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((resolve) => server.close(resolve)) };
}

// framed opens the embedder's page and returns what its frame shows (''
// or Chromium's error page for a refused frame).
async function framed(origin) {
  const page = await newPage(browser);
  await page.goto(`${origin}/embed`);
  const frame = await (await page.$('#f')).contentFrame();
  await frame.waitForLoadState('load').catch(() => {});
  await page.waitForTimeout(200);
  const html = await frame.evaluate(() => document.documentElement.outerHTML).catch(() => '');
  await page.close();
  return html;
}

test('an allowed origin frames the login, another cannot', async () => {
  const allowed = await embedder();
  const other = await embedder();
  try {
    await api('PUT', '/v1/settings/embedding', { embedding: { frameAncestors: [allowed.origin] } });
    const resp = await (await newPage(browser)).goto(url('/ui/login/'));
    const h = await resp.allHeaders();
    assert.ok(h['content-security-policy'].includes(`frame-ancestors ${allowed.origin};`), h['content-security-policy']);
    assert.equal(h['x-frame-options'], undefined);

    assert.ok(/name="loginName"/.test(await framed(allowed.origin)), 'the allowed origin could not frame the login');
    assert.ok(!/loginName/.test(await framed(other.origin)), 'another origin framed the login');
  } finally {
    await allowed.close();
    await other.close();
  }
});
