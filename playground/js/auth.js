// Who is signed in, and the actions that change it: sign in, sign out, Become, Stop
// impersonating. The viewer comes from the `viewer` query, which also drives the impersonation
// banner.

import { request } from './graphql.js';
import { navigate } from './router.js';
import { clearToken, getToken, setToken } from './session.js';

let viewer = null;
let flash = null;

export function currentViewer() {
  return viewer;
}

/** The viewer for the current token, loaded once per session. */
export async function loadViewer({ refresh = false } = {}) {
  if (!viewer || refresh) viewer = (await request('Viewer')).viewer;
  return viewer;
}

export function isImpersonating() {
  return Boolean(viewer?.impersonation);
}

/** A one-time notice for the sign-in page ("Your session has ended…"). */
export function takeFlash() {
  const message = flash;
  flash = null;
  return message;
}

/** Starts a session with `token` (after signIn or acceptInvitation) and opens `next`. */
export function startSession(token, next = '/users') {
  setToken(token);
  viewer = null;
  return navigate(safeNext(next), { replace: true });
}

/** Only same-origin paths are followed after sign-in. */
export function safeNext(next) {
  return typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') ? next : '/users';
}

export async function signOut() {
  try {
    if (getToken()) await request('SignOut');
  } catch {
    // Signing out of a session that has already ended is fine.
  }
  endSession('You have signed out.', false);
}

/** Forgets the session (after UNAUTHENTICATED or sign-out) and goes to sign in. */
export function endSession(message, keepLocation = true) {
  clearToken();
  viewer = null;
  flash = message;
  const here = window.location.pathname + window.location.search;
  const next = keepLocation && here !== '/' ? `?next=${encodeURIComponent(here)}` : '';
  return navigate(`/sign-in${next}`, { replace: true });
}

/** Becomes `user` for support, with the reason the admin gave; lands on their Users page. */
export async function become(user, reason) {
  const { becomeUser } = await request('BecomeUser', { input: { userId: user.id, reason } });
  setToken(becomeUser.token);
  viewer = becomeUser.viewer;
  return navigate('/users');
}

/** Ends the impersonation: the admin's own session again, on the Users page. */
export async function stopImpersonating() {
  const { stopImpersonating: payload } = await request('StopImpersonating');
  setToken(payload.token);
  viewer = payload.viewer;
  return navigate('/users');
}
