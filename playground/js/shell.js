// The signed-in layout: sidebar navigation (collapsing into a drawer on narrow screens), the top
// bar with the user menu, and the impersonation banner on every page while impersonating.

import { signOut, stopImpersonating } from './auth.js';
import { h, replace } from './dom.js';
import { icon } from './icons.js';
import { busy, formatTime } from './ui.js';

const NAV = [
  { href: '/users', label: 'Users', icon: 'users' },
  { href: '/companies', label: 'Companies', icon: 'building' },
  { href: '/organizations', label: 'Organizations', icon: 'layers', roles: ['ADMIN'] },
  { href: '/audit', label: 'Audit log', icon: 'audit', roles: ['ADMIN'] },
  { href: '/account', label: 'My account', icon: 'account' },
];

function initials(name) {
  return name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join('');
}

function impersonationBanner(viewer) {
  if (!viewer.impersonation) return null;
  const stop = h('button', { class: 'btn btn-banner', type: 'button' }, 'Stop impersonating');
  stop.addEventListener('click', () => busy(stop, stopImpersonating));
  return h('div', { class: 'impersonation-banner', role: 'region', 'aria-label': 'Impersonation' },
    icon('eye', { size: 20 }),
    h('p', {},
      'You are impersonating ', h('strong', { text: viewer.user.name }),
      h('span', { class: 'banner-sep', 'aria-hidden': 'true', text: ' — ' }),
      h('span', { class: 'banner-reason', text: viewer.impersonation.reason }),
      h('span', { class: 'banner-until', text: ` (until ${formatTime(viewer.impersonation.expiresAt)})` })),
    stop);
}

function userMenu(viewer) {
  const menuId = 'user-menu';
  const toggle = h('button', {
    class: 'user-menu-toggle', type: 'button', 'aria-haspopup': 'true', 'aria-expanded': 'false',
    'aria-controls': menuId,
  },
  h('span', { class: 'avatar', 'aria-hidden': 'true', text: initials(viewer.user.name) }),
  h('span', { class: 'user-menu-name', text: viewer.user.name }),
  icon('chevron', { size: 16 }));

  const items = [
    h('a', { class: 'menu-item', href: '/account', role: 'menuitem' }, 'My account'),
    viewer.impersonation && h('button', {
      class: 'menu-item', type: 'button', role: 'menuitem',
      onClick: (e) => busy(e.currentTarget, stopImpersonating),
    }, 'Stop impersonating'),
    h('button', { class: 'menu-item', type: 'button', role: 'menuitem', onClick: () => signOut() }, 'Sign out'),
  ];
  const menu = h('div', { class: 'menu', id: menuId, role: 'menu', hidden: true },
    h('div', { class: 'menu-header' },
      h('strong', { text: viewer.user.name }),
      h('span', { class: 'muted', text: viewer.user.email }),
      viewer.impersonator && h('span', { class: 'muted small', text: `Signed in as ${viewer.impersonator.name}` })),
    items);

  const close = () => {
    menu.hidden = true;
    toggle.setAttribute('aria-expanded', 'false');
  };
  toggle.addEventListener('click', () => {
    const open = menu.hidden;
    menu.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
    if (open) menu.querySelector('.menu-item')?.focus();
  });
  menu.addEventListener('click', (e) => { if (e.target.closest('.menu-item')) close(); });
  const wrapper = h('div', { class: 'user-menu' }, toggle, menu);
  wrapper.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !menu.hidden) { close(); toggle.focus(); }
    if ((e.key === 'ArrowDown' || e.key === 'ArrowUp') && !menu.hidden) {
      const all = [...menu.querySelectorAll('.menu-item')];
      const i = all.indexOf(document.activeElement);
      all[(i + (e.key === 'ArrowDown' ? 1 : all.length - 1)) % all.length]?.focus();
      e.preventDefault();
    }
  });
  document.addEventListener('click', (e) => { if (!wrapper.contains(e.target)) close(); });
  return wrapper;
}

/**
 * Builds the shell for `viewer` into `root` and returns it; `shell.main` is where pages render,
 * `shell.setActive(path)` marks the current section.
 */
export function createShell(root, viewer) {
  const role = viewer.user.role;
  const links = NAV.filter((item) => !item.roles || item.roles.includes(role)).map((item) =>
    h('a', { class: 'nav-link', href: item.href, dataset: { section: item.href } },
      icon(item.icon), h('span', { text: item.label })));

  const sidebar = h('aside', { class: 'sidebar', id: 'sidebar', 'aria-label': 'Sidebar' },
    h('a', { class: 'brand', href: '/users' },
      h('span', { class: 'brand-mark', 'aria-hidden': 'true', text: 'P' }),
      h('span', { class: 'brand-name' }, 'Portal ', h('span', { class: 'brand-sub', text: 'admin' }))),
    h('nav', { class: 'nav', 'aria-label': 'Main' }, links),
    h('div', { class: 'sidebar-footer muted small' }, 'Signed in as ', h('strong', { text: viewer.impersonator?.name ?? viewer.user.name })));

  const scrim = h('div', { class: 'scrim', hidden: true });
  const menuToggle = h('button', {
    class: 'icon-btn sidebar-toggle', type: 'button', 'aria-controls': 'sidebar',
    'aria-expanded': 'false', 'aria-label': 'Open navigation',
  }, icon('menu', { size: 22 }));
  const setDrawer = (open) => {
    document.body.classList.toggle('drawer-open', open);
    menuToggle.setAttribute('aria-expanded', String(open));
    scrim.hidden = !open;
  };
  menuToggle.addEventListener('click', () => setDrawer(!document.body.classList.contains('drawer-open')));
  scrim.addEventListener('click', () => setDrawer(false));
  sidebar.addEventListener('click', (e) => { if (e.target.closest('a')) setDrawer(false); });
  sidebar.addEventListener('keydown', (e) => { if (e.key === 'Escape') { setDrawer(false); menuToggle.focus(); } });

  const main = h('main', { id: 'main', class: 'main', tabindex: '-1' });
  replace(root,
    h('a', { class: 'skip-link', href: '#main' }, 'Skip to content'),
    impersonationBanner(viewer),
    h('div', { class: 'layout' },
      sidebar, scrim,
      h('div', { class: 'content' },
        h('header', { class: 'topbar' },
          menuToggle,
          h('div', { class: 'topbar-spacer' }),
          viewer.impersonation && h('span', { class: 'badge badge-amber topbar-badge', text: 'Impersonating' }),
          userMenu(viewer)),
        main)));
  root.classList.toggle('is-impersonating', Boolean(viewer.impersonation));

  return {
    viewer,
    main,
    setActive(path) {
      for (const link of links) {
        const section = link.dataset.section;
        const active = path === section || path.startsWith(`${section}/`);
        if (active) link.setAttribute('aria-current', 'page');
        else link.removeAttribute('aria-current');
      }
    },
  };
}
