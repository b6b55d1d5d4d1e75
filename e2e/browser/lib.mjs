// Helpers of the browser tests: Debian's Chromium driven by playwright-core,
// an accessibility check with axe-core, and Chromium's virtual WebAuthn
// authenticator for the passkey flows.
//
// The tests run under `node --test`, started by TestBrowser (e2e/browser_test.go)
// against a real Castellan; it passes the server and the accounts it made in
// the environment (see env below).

import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

// env is what TestBrowser passes: where the server is and who may sign in.
export const env = {
  // BASE_URL is the server's URL, http://localhost:PORT: localhost is a
  // secure context, so WebAuthn works without TLS.
  baseURL: required('BASE_URL'),
  // The first administrator, as printed at first start; its password must
  // be changed at the first sign-in.
  adminLoginName: required('ADMIN_LOGIN_NAME'),
  adminPassword: required('ADMIN_PASSWORD'),
  // A user with a password that need not be changed, for the tests that
  // must not disturb the administrator (failed sign-ins count to lockout).
  userLoginName: required('USER_LOGIN_NAME'),
  userPassword: required('USER_PASSWORD'),
  // A personal access token of the administrator, for the management API.
  apiToken: required('API_TOKEN'),
  // A personal access token of the user, for its own calls (/v1/me/...).
  userToken: required('USER_TOKEN'),
  chromium: process.env.CHROMIUM || '/usr/bin/chromium',
  // The messages Castellan sent by email (serveMailbox in browser_test.go);
  // absent where nothing reads them (the screenshots).
  mailboxURL: process.env.MAILBOX_URL,
  // The text messages Castellan sent to its SMS gateway (serveSMSGateway
  // in browser_test.go); absent where no test reads them.
  smsURL: process.env.SMS_URL,
};

function required(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run the browser tests through go test ./e2e -run TestBrowser`);
  }
  return v;
}

// url returns the server's URL of a path.
export function url(path) {
  return new URL(path, env.baseURL).href;
}

// chromiumFlags start Chromium headless on this network: without the
// background-networking flags Chromium keeps trying Google's hosts, whose
// connections a closed network refuses. Playwright adds a fresh, empty
// --user-data-dir of its own (a temporary directory it removes on close).
export const chromiumFlags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// launch starts a headless Chromium. Close it with browser.close().
export async function launch() {
  return chromium.launch({
    executablePath: env.chromium,
    headless: true,
    args: chromiumFlags,
    timeout: 30_000,
  });
}

// newPage opens a page in a fresh context (its own cookies and storage),
// with the page's Content-Security-Policy enforced, as a user's browser
// does. Every test that checks behaviour uses this one.
export async function newPage(browser, options = {}) {
  const context = await browser.newContext({ locale: 'en-US', ...options });
  context.setDefaultTimeout(15_000);
  return context.newPage();
}

// cspViolations collects the Content-Security-Policy violations the page
// reports from now on (securitypolicyviolation events, through the console
// messages Chromium prints for them). A page of ours must cause none.
export function cspViolations(page) {
  const seen = [];
  page.on('console', (msg) => {
    const text = msg.text();
    if (/Content Security Policy/i.test(text)) {
      seen.push(text);
    }
  });
  return seen;
}

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

// newAccessibilityPage opens a page in a context that bypasses the
// Content-Security-Policy (Playwright's bypassCSP): axe-core must be added
// as a script the page's nonce does not cover. Only the accessibility
// check uses such a context; what the page allows is tested with newPage.
export async function newAccessibilityPage(browser, options = {}) {
  return newPage(browser, { bypassCSP: true, ...options });
}

// seriousViolations runs axe-core on a page opened with
// newAccessibilityPage and returns its serious and critical violations
// (WCAG 2.x A and AA rules, and axe's best practices).
export async function seriousViolations(page) {
  await page.addScriptTag({ content: axeSource });
  const results = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { resultTypes: ['violations'] }),
  );
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => n.target.join(' ')),
    }));
}

// assertAccessible fails with axe's findings when the page has serious or
// critical violations.
export async function assertAccessible(page) {
  const violations = await seriousViolations(page);
  assert.deepEqual(violations, [], `accessibility violations on ${page.url()}:\n${JSON.stringify(violations, null, 2)}`);
}

// addVirtualAuthenticator gives the page's browser a platform authenticator
// (CTAP2, internal transport, resident keys, user verification that always
// succeeds) through the Chrome DevTools Protocol, as a laptop's Touch ID or
// Windows Hello would be. navigator.credentials then creates and uses
// passkeys on it without a prompt.
export async function addVirtualAuthenticator(page, options = {}) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
      ...options,
    },
  });
  return {
    authenticatorId,
    // credentials lists the passkeys the authenticator holds.
    async credentials() {
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      return credentials;
    },
    // setUserVerified makes the next user verifications succeed or fail.
    async setUserVerified(isUserVerified) {
      await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified });
    },
    async remove() {
      await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
      await cdp.detach();
    },
  };
}

// api calls the management API (REST/JSON), as the administrator unless
// another token is given.
export async function api(method, path, body, token = env.apiToken) {
  const resp = await fetch(url(path), {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  if (!resp.ok) {
    throw new Error(`${method} ${path}: ${resp.status} ${text}`);
  }
  return text ? JSON.parse(text) : undefined;
}

// signIn signs a user in with its password on the hosted login, from the
// login name page, and waits for the page after the password: the
// signed-in page, or the step the session asks for next.
export async function signIn(page, loginName, password, { german = false } = {}) {
  await page.goto(url('/ui/login/?prompt=login'));
  await page.getByLabel(german ? 'Anmeldename' : 'Login name').fill(loginName);
  await page.getByRole('button', { name: german ? 'Weiter' : 'Next' }).click();
  await page.getByLabel(german ? 'Passwort' : 'Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: german ? 'Anmelden' : 'Sign in' }).click();
  await page.waitForLoadState('load');
}

// createUser makes a user of the administrator's organization with a
// password (through the management API) and returns its id.
export async function createUser(loginName, password, fields = {}) {
  const me = await api('GET', '/v1/me');
  const created = await api('POST', '/v1/users', {
    organizationId: me.organizationId ?? me.user?.organizationId,
    type: 'human',
    loginName,
    password,
    ...fields,
  });
  return created.userId;
}

// mails returns the messages sent to address so far, oldest first, each
// { to, subject, body } with its body decoded.
export async function mails(address) {
  assert.ok(env.mailboxURL, 'MAILBOX_URL is not set');
  const resp = await fetch(env.mailboxURL);
  const all = await resp.json();
  return all.filter((m) => m.to.includes(address));
}

// waitForMail waits for the n-th message (from 1) to address: the login
// sends after it answers.
export async function waitForMail(address, n) {
  for (let deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(50)) {
    const got = await mails(address);
    if (got.length >= n) {
      return got[n - 1];
    }
  }
  throw new Error(`no message ${n} to ${address} arrived`);
}

// waitForText waits for the n-th text message (from 1) to a phone number.
export async function waitForText(phone, n) {
  assert.ok(env.smsURL, 'SMS_URL is not set');
  for (let deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(50)) {
    const all = await (await fetch(env.smsURL)).json();
    const got = all.filter((m) => m.to === phone);
    if (got.length >= n) {
      return { to: got[n - 1].to, body: got[n - 1].text };
    }
  }
  throw new Error(`no text message ${n} to ${phone} arrived`);
}

// codeIn is the six-digit code of a message.
export function codeIn(message) {
  const m = /\b([0-9]{6})\b/.exec(message.body);
  assert.ok(m, `no code in the message:\n${message.body}`);
  return m[1];
}

// base32Decode decodes RFC 4648 base32 (the secret an authenticator app
// is given), without padding.
function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of s.replace(/[=\s]/g, '').toUpperCase()) {
    const i = alphabet.indexOf(c);
    if (i < 0) {
      throw new Error(`not base32: ${s}`);
    }
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// totpCode is the RFC 6238 code (HMAC-SHA1, six digits, 30-second steps)
// of a base32 secret at a time step, as an authenticator app computes it.
export function totpCode(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, '0');
}

// An authenticatorApp makes the codes of one TOTP secret the way a user
// types them: each from a later time step than the last (the server
// refuses a step once used, or an older one), within the one step around
// now the server accepts, away from a step's last seconds.
export function authenticatorApp(secret) {
  let last = 0;
  return {
    async code() {
      for (;;) {
        const seconds = Date.now() / 1000;
        const now = Math.floor(seconds / 30);
        const step = Math.max(last + 1, now - 1);
        if (step <= now + 1 && seconds % 30 < 27) {
          last = step;
          return totpCode(secret, step);
        }
        await sleep(500);
      }
    },
  };
}
