// What every story needs: the browser (Debian's Chromium through playwright-core), a page that
// records console errors, screenshots, signing in, the API, and a mailbox (a real SMTP server
// in this process that the portal sends to).

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { chromium } from 'playwright-core';
import { SMTPServer } from 'smtp-server';

const required = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the stories with tests/e2e/run.sh`);
  return value;
};

export const env = {
  baseUrl: required('E2E_BASE_URL'),
  smtpPort: Number(required('E2E_SMTP_PORT')),
  admin: {
    email: required('E2E_ADMIN_EMAIL'),
    name: process.env.E2E_ADMIN_NAME ?? 'Ada Admin',
    password: required('E2E_ADMIN_PASSWORD'),
  },
  screenshots: process.env.E2E_SCREENSHOTS ?? path.resolve('screenshots'),
};

export const LAPTOP = { width: 1366, height: 860 };
export const PHONE = { width: 390, height: 844 };

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
}

/** A fresh browser context (its own sessionStorage) and page, recording console errors. */
export async function openPage(browser, { viewport = LAPTOP } = {}) {
  const context = await browser.newContext({ viewport, baseURL: env.baseUrl });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  page.consoleErrors = errors;
  return page;
}

export function assertNoConsoleErrors(...pages) {
  const errors = pages.flatMap((page) => page.consoleErrors ?? []);
  assert.deepEqual(errors, [], 'the browser console reported errors');
}

export async function screenshot(page, name) {
  mkdirSync(env.screenshots, { recursive: true });
  const file = path.join(env.screenshots, `${name}.png`);
  // Full-page shots of a scrolled page misplace the sticky sidebar and top bar.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Signs in through the console's form and waits for the Users page. */
export async function signIn(page, { email, password }) {
  await page.goto('/sign-in');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
}

export async function signOut(page) {
  await page.locator('.user-menu-toggle').click();
  await page.getByRole('menuitem', { name: 'Sign out' }).click();
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
}

// ------------------------------------------------------------------ API (for setting up data)

export async function gql(query, variables = {}, token = null) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${env.baseUrl}/graphql`, {
    method: 'POST', headers, body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) {
    const [error] = body.errors;
    throw Object.assign(new Error(`${error.extensions?.code}: ${error.message}`), { code: error.extensions?.code });
  }
  return body.data;
}

export async function apiSignIn({ email, password }) {
  const data = await gql('mutation($input: SignInInput!) { signIn(input: $input) { token } }',
    { input: { email, password } });
  return data.signIn.token;
}

/**
 * The names of the operations the server serves to the console (those not staged in
 * playground/operations/next/). Stories check the parts of a page that wait for API with it:
 * the real thing once served, the "Coming with the next API release" panel until then.
 */
export async function servedOperations() {
  const files = await fetch(`${env.baseUrl}/operations/index.json`).then((r) => r.json());
  const texts = await Promise.all(files.map((file) => fetch(`${env.baseUrl}/${file}`).then((r) => r.text())));
  return new Set(texts.flatMap((text) => [...text.matchAll(/^(?:query|mutation)\s+(\w+)/gm)].map((m) => m[1])));
}

// ------------------------------------------------------------------ mail

/** A real SMTP server on E2E_SMTP_PORT; collects parsed messages. Close it in `after`. */
export async function startMailbox() {
  const messages = [];
  const waiters = new Set();
  const server = new SMTPServer({
    secure: false,
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream).then((mail) => {
        messages.push(mail);
        for (const waiter of waiters) waiter();
        callback();
      }, callback);
    },
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(env.smtpPort, '127.0.0.1', resolve);
  });
  return {
    messages,
    /** The first message (received before or after) sent to `to` that `match`es. */
    async waitFor(to, { match = () => true, timeout = 10_000 } = {}) {
      const find = () => messages.find((m) => m.to?.value.some((a) => a.address === to) && match(m));
      const found = find();
      if (found) return found;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no mail to ${to} within ${timeout} ms (got ${messages.length} other)`));
        }, timeout);
        const check = () => {
          const mail = find();
          if (mail) { clearTimeout(timer); waiters.delete(check); resolve(mail); }
        };
        waiters.add(check);
      });
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** The first link to `path` (e.g. '/accept-invitation') in a message, as a path with query. */
export function linkIn(mail, linkPath) {
  const text = `${mail.text ?? ''}\n${mail.html || ''}`;
  const pattern = new RegExp(`${env.baseUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}${linkPath}\\?token=[A-Za-z0-9_\\-.~%]+`);
  const match = pattern.exec(text);
  assert.ok(match, `no ${linkPath} link in the mail:\n${text}`);
  return match[0].slice(env.baseUrl.length);
}

export function tokenOf(link) {
  return new URL(link, env.baseUrl).searchParams.get('token');
}

let counter = 0;
/** A unique address for this run. */
export function uniqueEmail(prefix) {
  counter += 1;
  return `${prefix}.${Date.now().toString(36)}${counter}@example.com`;
}

/**
 * An active user (invited by the admin through the API, invitation accepted through the API):
 * { id, name, email, password }.
 */
export async function createActiveUser(mailbox, adminToken, { name, role = 'CUSTOMER', memberships = [] }) {
  const email = uniqueEmail(name.split(' ')[0].toLowerCase());
  const password = `${name} has a long password`;
  const { createUser } = await gql(
    'mutation($input: CreateUserInput!) { createUser(input: $input) { id } }',
    { input: { name, email, role, memberships } }, adminToken);
  const mail = await mailbox.waitFor(email);
  const token = tokenOf(linkIn(mail, '/accept-invitation'));
  await gql('mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { token } }',
    { input: { token, password } });
  return { id: createUser.id, name, email, password };
}
