// The console's entry point: routes, the signed-in shell, and rendering a page per location.

import { currentViewer, endSession, loadViewer } from './auth.js';
import { h, replace } from './dom.js';
import { onUnauthenticated } from './graphql.js';
import { match, navigate, route, start } from './router.js';
import { getToken } from './session.js';
import { createShell } from './shell.js';
import { errorState, loading } from './ui.js';

const page = (file, options = {}) => ({ load: () => import(`./pages/${file}.js`), ...options });

// Pages anyone can open (the links in emails land here).
route('/sign-in', page('sign-in', { public: true, guestOnly: true }));
route('/forgot-password', page('forgot-password', { public: true }));
route('/accept-invitation', page('accept-invitation', { public: true }));
route('/reset-password', page('reset-password', { public: true }));
route('/confirm-email', page('confirm-email', { public: true }));
// Pages behind sign-in.
route('/', { redirect: '/users' });
route('/users', page('users'));
route('/users/new', page('user-new'));
route('/users/:id', page('user'));
route('/companies', page('companies'));
route('/companies/:id', page('company'));
route('/organizations', page('organizations'));
route('/organizations/:id', page('organization'));
route('/call-recordings/:id', page('call-recording'));
route('/playbooks/:id', page('playbook'));
route('/audit', page('audit-log'));
route('/account', page('account'));
const notFound = page('not-found');

const root = document.getElementById('app');
let shell = null;
let renderCount = 0;

function publicLayout() {
  shell = null;
  const main = h('main', { id: 'main', class: 'auth-main', tabindex: '-1' });
  replace(root,
    h('div', { class: 'auth-layout' },
      h('div', { class: 'auth-brand' },
        h('span', { class: 'brand-mark', 'aria-hidden': 'true', text: 'P' }),
        h('span', { class: 'brand-name' }, 'Portal ', h('span', { class: 'brand-sub', text: 'admin' }))),
      main,
      h('p', { class: 'auth-footer muted small', text: 'Call-centre portal · administration' })));
  return main;
}

async function signedInLayout(path) {
  const viewer = await loadViewer();
  if (!shell || shell.viewer !== viewer || !shell.main.isConnected) shell = createShell(root, viewer);
  shell.setActive(path);
  return shell.main;
}

async function render(location) {
  const current = ++renderCount;
  const matched = match(location.path);
  const target = matched?.page ?? notFound;
  if (target.redirect) return navigate(target.redirect, { replace: true });
  const token = getToken();
  if (!target.public && !token) {
    const next = location.href === '/' ? '' : `?next=${encodeURIComponent(location.href)}`;
    return navigate(`/sign-in${next}`, { replace: true });
  }
  if (target.guestOnly && token) return navigate('/users', { replace: true });

  root.classList.remove('boot');
  root.removeAttribute('aria-busy');
  let container;
  try {
    container = target.public ? publicLayout() : await signedInLayout(location.path);
  } catch (error) {
    if (current !== renderCount || error.code === 'UNAUTHENTICATED') return undefined;
    replace(root, h('main', { class: 'auth-main' }, errorState(error)));
    return undefined;
  }
  replace(container, loading());
  const module = await target.load();
  if (current !== renderCount) return undefined; // a later navigation won
  replace(container);
  const context = { params: matched?.params ?? {}, query: location.query, viewer: currentViewer() };
  const title = typeof module.title === 'function' ? module.title(context) : module.title;
  document.title = title ? `${title} · Portal admin` : 'Portal admin';
  window.scrollTo(0, 0);
  await module.render(container, context);
  if (current === renderCount && renderCount > 1) {
    const target = container.querySelector('[autofocus]') ?? container.querySelector('h1') ?? container;
    target.focus({ preventScroll: true });
  }
  return undefined;
}

onUnauthenticated(() => {
  const matched = match(window.location.pathname);
  if (matched?.page.public) return;
  endSession('Your session has ended. Please sign in again.');
});

start(render);
