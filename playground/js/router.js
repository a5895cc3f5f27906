// A small History API router: patterns like `/users/:id`, links handled in place, back and
// forward restored.

const routes = [];
let onRoute = () => {};

/** Registers `pattern` (e.g. '/users/:id'); `page` is what the app's render function gets. */
export function route(pattern, page) {
  const names = [];
  const source = pattern
    .split('/')
    .map((part) => {
      if (!part.startsWith(':')) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(part.slice(1));
      return '([^/]+)';
    })
    .join('/');
  routes.push({ pattern, regex: new RegExp(`^${source}/?$`), names, page });
}

/** The route for a path, with decoded params; null when nothing matches. */
export function match(pathname) {
  for (const r of routes) {
    const m = r.regex.exec(pathname);
    if (m) {
      const params = Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1])]));
      return { ...r, params };
    }
  }
  return null;
}

export function currentLocation() {
  return {
    path: window.location.pathname,
    query: new URLSearchParams(window.location.search),
    href: window.location.pathname + window.location.search,
  };
}

/** Goes to `href` (a same-origin path with optional query) and renders it. */
export function navigate(href, { replace = false } = {}) {
  if (replace) window.history.replaceState(null, '', href);
  else window.history.pushState(null, '', href);
  return onRoute(currentLocation());
}

/** Rewrites the query string of the current page without rendering it again. */
export function setQuery(params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '' && value !== false) {
      query.set(key, String(value));
    }
  }
  const search = query.toString();
  window.history.replaceState(null, '', window.location.pathname + (search ? `?${search}` : ''));
}

function isPlainLeftClick(event) {
  return (
    event.button === 0 && !event.metaKey && !event.ctrlKey && !event.shiftKey && !event.altKey
  );
}

/** Starts routing: `render(location)` runs now and on every navigation. */
export function start(render) {
  onRoute = render;
  window.addEventListener('popstate', () => render(currentLocation()));
  document.addEventListener('click', (event) => {
    const link = event.target.closest('a[href]');
    if (!link || !isPlainLeftClick(event) || event.defaultPrevented) return;
    if (link.target || link.hasAttribute('download') || link.dataset.external !== undefined) return;
    const url = new URL(link.href, window.location.href);
    if (url.origin !== window.location.origin) return;
    const samePage = url.pathname === window.location.pathname && url.search === window.location.search;
    if (url.hash && samePage) return; // in-page anchors (the skip link)
    if (url.pathname.startsWith('/graphiql') || url.pathname.startsWith('/graphql')) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  return render(currentLocation());
}
