// GraphiQL works offline (issue 13, point 9): every request the page makes to another origin is
// blocked, and yet it loads (React and GraphiQL come from the binary, with integrity hashes),
// fetches the schema (its docs show the root types), runs `{ __typename }`, then the signed-in `viewer` with a token typed in
// the Headers tab. The page's Content-Security-Policy holds: a violation would be a console error.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  apiSignIn, assertNoConsoleErrors, env, launchBrowser, openPage, screenshot,
} from '../lib/harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** Replaces the text of the CodeMirror editor inside `container` as a user would (select all, type). */
async function typeInto(page, container, text) {
  await page.locator(`${container} .CodeMirror >> visible=true`).first().click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(text);
}

/** The response pane's JSON, once GraphiQL shows one that `ready` accepts. */
async function response(page, ready) {
  let last = null;
  for (let i = 0; i < 100; i += 1) {
    const text = await page.evaluate(() => document.querySelector('.graphiql-response .CodeMirror')?.CodeMirror?.getValue() ?? '');
    if (text.trim()) {
      try {
        last = JSON.parse(text);
        if (ready(last)) return last;
      } catch { /* still rendering */ }
    }
    await page.waitForTimeout(100);
  }
  assert.fail(`GraphiQL showed no matching result; last: ${JSON.stringify(last)}`);
}

test('GraphiQL loads and runs queries with every other origin blocked', async () => {
  const page = await openPage(browser);
  const origin = new URL(env.baseUrl).origin;
  const blocked = [];
  const served = [];
  await page.context().route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) return route.continue();
    blocked.push(url);
    return route.abort('internetdisconnected');
  });
  page.on('response', (r) => served.push({ url: r.url(), status: r.status(), type: r.request().resourceType() }));

  await page.goto('/graphiql');
  await page.locator('.graphiql-container').waitFor();
  await page.locator('.graphiql-query-editor .CodeMirror').waitFor();
  // The schema arrived (introspection within the server's depth limit): the docs show its roots.
  await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
  const roots = page.locator('.graphiql-doc-explorer-root-type');
  await roots.first().waitFor();
  const rootTypes = await roots.evaluateAll((spans) => spans.map((span) => span.parentElement.textContent));
  assert.deepEqual(rootTypes, ['query: Query', 'mutation: Mutation']);
  await page.getByRole('button', { name: 'Hide Documentation Explorer' }).click();

  // Every script and stylesheet came from the binary, with an integrity hash on the vendored ones.
  const resources = await page.evaluate(() => [...document.querySelectorAll('script[src], link[rel=stylesheet]')]
    .map((el) => ({ url: el.src || el.href, integrity: el.integrity })));
  assert.equal(resources.length, 6, JSON.stringify(resources));
  for (const { url, integrity } of resources) {
    assert.equal(new URL(url).origin, origin, url);
    if (url.includes('/graphiql/vendor/')) assert.match(integrity, /^sha384-[A-Za-z0-9+/]{64}$/, url);
    const loaded = served.find((r) => r.url === url);
    assert.equal(loaded?.status, 200, `${url}: ${JSON.stringify(loaded)}`);
  }

  await typeInto(page, '.graphiql-query-editor', '{ __typename }');
  await page.getByRole('button', { name: 'Execute query (Ctrl-Enter)' }).click();
  const typename = await response(page, (body) => body.data?.__typename);
  assert.deepEqual(typename, { data: { __typename: 'Query' } });
  await screenshot(page, 'graphiql-1-typename');

  // Without a token the viewer is refused; with one in the Headers tab it is the admin.
  await typeInto(page, '.graphiql-query-editor', '{ viewer { user { name email role } } }');
  await page.getByRole('button', { name: 'Execute query (Ctrl-Enter)' }).click();
  const anonymous = await response(page, (body) => body.errors || body.data?.viewer !== undefined);
  assert.equal(anonymous.data?.viewer?.user ?? null, null, JSON.stringify(anonymous));

  const token = await apiSignIn(env.admin);
  await page.getByRole('button', { name: 'Headers' }).click();
  await page.locator('.graphiql-editor-tool[aria-label="Headers"]').waitFor();
  await typeInto(page, '.graphiql-editor-tool', JSON.stringify({ authorization: `Bearer ${token}` }));
  await page.getByRole('button', { name: 'Execute query (Ctrl-Enter)' }).click();
  const viewer = await response(page, (body) => body.data?.viewer?.user);
  assert.deepEqual(viewer, {
    data: { viewer: { user: { name: env.admin.name, email: env.admin.email, role: 'ADMIN' } } },
  });
  await screenshot(page, 'graphiql-2-viewer');

  assert.deepEqual(blocked, [], 'the page asked for nothing outside the server');
  assert.deepEqual(served.filter((r) => r.status !== 200), [], 'every request answered 200');
  assert.ok(served.some((r) => r.url === `${origin}/graphql` && r.status === 200), 'queries went to /graphql');
  assertNoConsoleErrors(page);
});
