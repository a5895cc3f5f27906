// The one way the console talks to the API: named operations, by name.
//
// Every operation lives in `/operations/*.graphql` (see playground/README.md). The helper
// reads the list of served documents from `/operations/index.json`, loads them once, and sends
// the named operation with just the fragments it uses. An operation that is only staged in
// `operations/next/` is not served, so asking for it fails with code NOT_SERVED_YET before any
// request is made: pages show that part of the console as "waiting for the API".

import { getToken } from './session.js';

export const NOT_SERVED_YET = 'NOT_SERVED_YET';
export const NETWORK_ERROR = 'NETWORK_ERROR';

/** An error to show to people: `message` is the API's message, `code` its extensions.code. */
export class ApiError extends Error {
  constructor(message, code, { field = null, operation = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.field = field;
    this.operation = operation;
  }
}

let catalogue = null; // Promise<Map<name, {kind, text, fragments: string[]}>>

async function fetchText(url) {
  const response = await fetch(url, { headers: { accept: 'text/plain, application/json' } });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.text();
}

function loadCatalogue() {
  catalogue ??= (async () => {
    const files = JSON.parse(await fetchText('/operations/index.json'));
    const texts = await Promise.all(files.map((file) => fetchText(`/${file}`)));
    const definitions = new Map();
    texts.forEach((text) => {
      for (const definition of splitDefinitions(text)) definitions.set(definition.name, definition);
    });
    return definitions;
  })().catch(() => {
    catalogue = null; // try again next time
    throw new ApiError('The console could not load its operations. Reload the page.', NETWORK_ERROR);
  });
  return catalogue;
}

/**
 * Splits a GraphQL document into its top-level definitions (operations and fragments), each with
 * its own text and the fragments it spreads. Comments, strings and block strings are skipped when
 * matching braces. The Rust test `console_operations` splits the same way.
 */
export function splitDefinitions(source) {
  const definitions = [];
  let depth = 0;
  let start = -1;
  for (let i = 0; i < source.length; i += 1) {
    const c = source[i];
    if (c === '#') {
      while (i < source.length && source[i] !== '\n') i += 1;
    } else if (c === '"') {
      if (source.startsWith('"""', i)) {
        const end = source.indexOf('"""', i + 3);
        i = end < 0 ? source.length : end + 2;
      } else {
        i += 1;
        while (i < source.length && source[i] !== '"' && source[i] !== '\n') {
          if (source[i] === '\\') i += 1;
          i += 1;
        }
      }
    } else if (c === '{') {
      depth += 1;
    } else if (c === '}') {
      depth -= 1;
      if (depth === 0 && start >= 0) {
        definitions.push(describe(source.slice(start, i + 1)));
        start = -1;
      }
    } else if (depth === 0 && start < 0 && !/\s|,/.test(c)) {
      start = i;
    }
  }
  return definitions.filter(Boolean);
}

function describe(text) {
  const head = /^(query|mutation|subscription|fragment)\s+([_A-Za-z][_0-9A-Za-z]*)/.exec(text);
  if (!head) return null; // anonymous operations are not allowed; the Rust test reports them
  const body = text.replace(/#[^\n]*/g, '');
  const fragments = [...body.matchAll(/\.\.\.\s*([_A-Za-z][_0-9A-Za-z]*)/g)]
    .map((m) => m[1])
    .filter((name) => name !== 'on');
  return { kind: head[1], name: head[2], text, fragments };
}

/** The text sent for `name`: the operation and, transitively, the fragments it uses. */
export function documentFor(name, definitions) {
  const operation = definitions.get(name);
  if (!operation || operation.kind === 'fragment') return null;
  const parts = [operation.text];
  const seen = new Set();
  const queue = [...operation.fragments];
  while (queue.length) {
    const fragment = queue.shift();
    if (seen.has(fragment)) continue;
    seen.add(fragment);
    const definition = definitions.get(fragment);
    if (!definition) return null;
    parts.push(definition.text);
    queue.push(...definition.fragments);
  }
  return parts.join('\n\n');
}

/** Whether the server serves operation `name` (false while it is staged in operations/next/). */
export async function isServed(name) {
  try {
    return documentFor(name, await loadCatalogue()) !== null;
  } catch {
    return false;
  }
}

const listeners = new Set();
/** Called with the error whenever the API answers UNAUTHENTICATED. */
export function onUnauthenticated(listener) {
  listeners.add(listener);
}

/**
 * Sends operation `name` with `variables`; resolves to `data`, rejects with an ApiError.
 * The session token, when there is one, goes in the Authorization header.
 */
export async function request(name, variables = {}, { token = getToken() } = {}) {
  const query = documentFor(name, await loadCatalogue());
  if (!query) {
    throw new ApiError(
      `This needs “${name}”, which the server does not offer yet.`,
      NOT_SERVED_YET,
      { operation: name },
    );
  }
  const headers = { 'content-type': 'application/json', accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  let body;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers,
      body: JSON.stringify({ query, operationName: name, variables }),
    });
    body = await response.json();
  } catch {
    throw new ApiError(
      'The server could not be reached. Check your connection and try again.',
      NETWORK_ERROR,
      { operation: name },
    );
  }
  const error = body?.errors?.[0];
  if (error) {
    const code = error.extensions?.code ?? 'INTERNAL';
    const apiError = new ApiError(error.message || 'Something went wrong.', code, {
      field: error.extensions?.field ?? null,
      operation: name,
    });
    if (code === 'UNAUTHENTICATED') listeners.forEach((listener) => listener(apiError));
    throw apiError;
  }
  if (!response.ok || !body?.data) {
    throw new ApiError('The server gave an unexpected answer. Try again.', 'INTERNAL', {
      operation: name,
    });
  }
  return body.data;
}
