// The session token lives in sessionStorage only: never in the URL, never in localStorage. It
// survives a reload of the tab and ends with the tab.

const KEY = 'portal-admin.session';

export function getToken() {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function setToken(token) {
  sessionStorage.setItem(KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(KEY);
}
