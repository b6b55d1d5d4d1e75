// Screenshots of the hosted login's main screens, in light and dark, in
// English and German, for docs/screenshots (make screenshots).
//
// Run by TestScreenshots (e2e/screenshots_test.go) against a fresh
// Castellan: it passes what lib.mjs reads, plus DE_LOGIN_NAME and DE_TOKEN
// (a second user with the same password, shown in German: each user's
// authenticator app code can be used once) and SCREENSHOTS_DIR. The
// script gives both users an authenticator app (TOTP) through the
// self-service API, opens self-registration through the settings API,
// then signs each user in through the pages, photographing each screen
// in both colour schemes (emulateMedia) at a fixed viewport.
//
// Files: SCREENSHOTS_DIR/<screen>-<light|dark>-<en|de>.png.

import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { api, env, launch, url } from './lib.mjs';

const dir = process.env.SCREENSHOTS_DIR;
if (!dir) {
  throw new Error('SCREENSHOTS_DIR is not set: run make screenshots');
}
mkdirSync(dir, { recursive: true });

export const viewport = { width: 800, height: 700 };
const schemes = ['light', 'dark'];
const languages = [
  { lang: 'en', locale: 'en-US', loginName: env.userLoginName, token: env.userToken },
  { lang: 'de', locale: 'de-DE', loginName: process.env.DE_LOGIN_NAME, token: process.env.DE_TOKEN },
];

// base32 decodes RFC 4648 base32 (the TOTP secret's encoding).
function base32(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of s.replace(/=+$/, '').toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// totp is the RFC 6238 code (SHA-1, six digits, 30-second steps) of secret
// at time ms.
function totp(secret, ms = Date.now()) {
  const step = Buffer.alloc(8);
  step.writeBigUInt64BE(BigInt(Math.floor(ms / 30_000)));
  const h = createHmac('sha1', base32(secret)).update(step).digest();
  const offset = h[h.length - 1] & 0xf;
  return String((h.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

// addTOTP gives the user of token an active authenticator app and returns
// its secret. It is activated with the code of the step before now, which
// the server accepts, so that the sign-in may use the current one (a code
// is never accepted twice, nor one older than the last).
async function addTOTP(token) {
  const { secret } = await api('POST', '/v1/me/authenticators/totp', {}, token);
  await api('POST', '/v1/me/authenticators/totp:verify', { code: totp(secret, Date.now() - 30_000) }, token);
  return secret;
}

// openRegistration lets people register themselves in the instance.
async function openRegistration() {
  const { settings: { login } } = await api('GET', '/v1/settings');
  await api('PUT', '/v1/settings/login', { login: { ...login, selfRegistration: true } });
}

const written = [];

// shoot saves the page in both colour schemes as <screen>-<scheme>-<lang>.png.
async function shoot(page, screen, lang) {
  for (const colorScheme of schemes) {
    await page.emulateMedia({ colorScheme });
    const file = join(dir, `${screen}-${colorScheme}-${lang}.png`);
    await page.screenshot({ path: file, fullPage: true, animations: 'disabled', caret: 'hide' });
    written.push(file);
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

async function submit(page) {
  await Promise.all([page.waitForNavigation(), page.locator('form button[type=submit]').first().click()]);
}

async function screens(browser, { lang, locale, loginName, token }) {
  const secret = await addTOTP(token);
  const context = await browser.newContext({ locale, viewport, colorScheme: 'light' });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();

  await page.goto(url('/ui/login/'));
  await page.locator('input[name=loginName]').fill(loginName);
  await shoot(page, 'signin-name', lang);
  await submit(page);

  await page.locator('input[name=password]').fill('not the password');
  await submit(page);
  await page.getByRole('alert').waitFor();
  await shoot(page, 'signin-password-error', lang);

  await page.locator('input[name=password]').fill(env.userPassword);
  await submit(page);
  await page.locator('input[name=code]').waitFor();
  if (!new URL(page.url()).pathname.startsWith('/ui/login/code/totp')) {
    throw new Error(`after the password: ${page.url()}, not the authenticator app's page`);
  }
  await shoot(page, 'signin-totp', lang);

  await page.locator('input[name=code]').fill(totp(secret));
  await submit(page);
  if (new URL(page.url()).pathname !== '/ui/login/done') {
    throw new Error(`after the code: ${page.url()}, not signed in`);
  }
  await shoot(page, 'signin-done', lang);

  await page.goto(url('/ui/account/'));
  await shoot(page, 'account', lang);
  await context.close();

  // Registration, in a browser with no session.
  const fresh = await browser.newContext({ locale, viewport, colorScheme: 'light' });
  const reg = await fresh.newPage();
  const resp = await reg.goto(url('/ui/login/register'));
  if (resp.status() !== 200) {
    throw new Error(`/ui/login/register: ${resp.status()}`);
  }
  await shoot(reg, 'register', lang);
  await fresh.close();
}

const browser = await launch();
try {
  await openRegistration();
  for (const l of languages) {
    if (!l.loginName || !l.token) {
      throw new Error(`no user for ${l.lang}: set DE_LOGIN_NAME and DE_TOKEN`);
    }
    await screens(browser, l);
  }
} finally {
  await browser.close();
}
console.log(`wrote ${written.length} screenshots to ${dir}`);
