// Helpers of the browser tests: Debian's Chromium driven by playwright-core,
// an accessibility check with axe-core, and Chromium's virtual WebAuthn
// authenticator for the passkey flows.
//
// The tests run under `node --test`, started by TestBrowser (e2e/browser_test.go)
// against a real Castellan; it passes the server and the accounts it made in
// the environment (see env below).

import { readFileSync } from 'node:fs';
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
export async function newAccessibilityPage(browser) {
  return newPage(browser, { bypassCSP: true });
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
