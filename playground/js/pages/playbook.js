// A playbook: the current text, editing (each save is a new immutable version), and the list of
// versions, any of which can be viewed and restored.

import { h, replace } from '../dom.js';
import { request } from '../graphql.js';
import {
  badge, busy, button, card, confirmDialog, errorState, field, handleSubmit, loading, pageHeader,
  time, toast,
} from '../ui.js';

export const title = 'Playbook';

export function render(container, { params }) {
  const show = (p, selected = p.currentVersion) => {
    document.title = `${p.title} · Portal admin`;
    const versions = [...p.versions].sort((a, b) => b.version - a.version);
    const current = versions.find((v) => v.version === selected) ?? versions[0];
    const viewing = h('article', { class: 'playbook-body' },
      h('h2', { class: 'card-title', text: current ? `${current.title} — version ${current.version}` : p.title }),
      h('pre', { class: 'prose', text: current?.body ?? p.body }),
      current && current.version !== p.currentVersion && button(`Restore version ${current.version}`, {
        kind: 'primary',
        onClick: async (e) => {
          const btn = e.currentTarget; // unset once the handler awaits
          const ok = await confirmDialog({
            title: `Restore version ${current.version}?`,
            body: 'Restoring saves its text as a new version; nothing is lost.',
            confirmLabel: 'Restore',
          });
          if (ok === null) return;
          await busy(btn, async () => {
            const { restorePlaybookVersion } = await request('RestorePlaybookVersion', { input: { playbookId: p.id, version: current.version } });
            toast(`Version ${current.version} restored as version ${restorePlaybookVersion.currentVersion}.`);
            show(restorePlaybookVersion);
          });
        },
      }));

    const form = h('form', { class: 'form' },
      field({ label: 'Title', name: 'title', value: p.title, required: true }),
      field({ label: 'Body', name: 'body', type: 'textarea', value: p.body, rows: 12 }),
      h('div', { class: 'form-actions' }, button('Save as new version', { kind: 'primary', type: 'submit' })));
    handleSubmit(form, async ({ title: newTitle, body }) => {
      const { updatePlaybook } = await request('UpdatePlaybook', {
        input: { id: p.id, title: newTitle, body, expectedVersion: p.currentVersion },
      });
      toast(`Saved as version ${updatePlaybook.currentVersion}.`);
      show(updatePlaybook);
    });

    replace(container,
      pageHeader(p.title, {
        subtitle: h('span', {}, `Version ${p.currentVersion} · updated `, time(p.updatedAt)),
        back: { href: `/companies/${encodeURIComponent(p.company.id)}`, label: p.company.name },
      }),
      h('div', { class: 'grid-main' },
        h('div', { class: 'stack' }, card(null, viewing), card('Edit', form)),
        card('Versions',
          h('ol', { class: 'versions' }, versions.map((v) => h('li', {},
            h('button', {
              class: 'version', type: 'button', 'aria-current': v.version === current?.version ? 'true' : null,
              onClick: () => show(p, v.version),
            },
            h('span', { class: 'version-head' }, h('strong', { text: `v${v.version}` }),
              v.version === p.currentVersion && badge('Current', 'green'),
              v.restoredFromVersion && badge(`Restored from v${v.restoredFromVersion}`, 'blue')),
            h('span', { class: 'muted small' }, v.author?.name ?? 'Unknown',
              v.impersonator ? ` (via impersonation by ${v.impersonator.name})` : '', ' · ', time(v.createdAt)))))))));
  };
  container.append(loading('Loading playbook…'));
  request('Playbook', { id: params.id })
    .then(({ playbook }) => {
      if (!playbook) throw Object.assign(new Error('This playbook does not exist or is not visible to you.'), { code: 'NOT_FOUND' });
      show(playbook);
    })
    .catch((error) => replace(container, pageHeader('Playbook', { back: { href: '/companies', label: 'Companies' } }), errorState(error)));
}
