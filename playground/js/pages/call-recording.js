// A call recording of a company: details, changes after the fact (notes, disposition, flag),
// and their History.

import { h, replace } from '../dom.js';
import { request } from '../graphql.js';
import { historySection } from '../history.js';
import {
  badge, button, card, details, errorState, field, formatDuration, handleSubmit, loading,
  pageHeader, time, toast,
} from '../ui.js';

export const title = 'Call recording';

export function render(container, { params }) {
  const show = (r) => {
    const back = { href: `/companies/${encodeURIComponent(r.company.id)}`, label: r.company.name };
    const form = h('form', { class: 'form' },
      field({ label: 'Disposition', name: 'disposition', value: r.disposition ?? '', placeholder: 'e.g. resolved, callback' }),
      field({ label: 'Notes', name: 'notes', type: 'textarea', value: r.notes, rows: 5 }),
      field({ label: 'Flagged for review', name: 'flagged', type: 'checkbox', value: r.flagged }),
      h('div', { class: 'form-actions' }, button('Save changes', { kind: 'primary', type: 'submit' })));
    handleSubmit(form, async ({ disposition, notes, flagged }) => {
      const { updateCallRecording } = await request('UpdateCallRecording', {
        input: { id: r.id, disposition: disposition.trim() || null, notes, flagged, expectedVersion: r.version },
      });
      toast('Recording updated.');
      show(updateCallRecording);
    });
    replace(container,
      pageHeader(`Call from ${r.callerNumber}`, {
        subtitle: h('span', { class: 'header-badges' }, time(r.startedAt), ' · ', formatDuration(r.durationSeconds),
          r.flagged ? [' ', badge('Flagged', 'red')] : null),
        back,
      }),
      h('div', { class: 'grid-main' },
        h('div', { class: 'stack' },
          card('After the call', form),
          historySection(async (after) => (await request('CallRecordingHistory', { id: r.id, after })).callRecording.history, { record: { type: 'CALL_RECORDING', id: r.id } })),
        h('div', { class: 'stack' },
          card('Details', details([
            ['Company', h('a', { href: back.href, text: r.company.name })],
            ['Inbound number', r.inboundNumber ? `${r.inboundNumber.number}${r.inboundNumber.label ? ` (${r.inboundNumber.label})` : ''}` : '—'],
            ['Caller', r.callerNumber],
            ['Started', time(r.startedAt)],
            ['Duration', formatDuration(r.durationSeconds)],
            ['Storage key', h('code', { class: 'break', text: r.storageKey })],
          ])))));
  };
  container.append(loading('Loading call recording…'));
  request('CallRecording', { id: params.id })
    .then(({ callRecording }) => {
      if (!callRecording) throw Object.assign(new Error('This recording does not exist or is not visible to you.'), { code: 'NOT_FOUND' });
      show(callRecording);
    })
    .catch((error) => replace(container, pageHeader('Call recording', { back: { href: '/companies', label: 'Companies' } }), errorState(error)));
}
