// Asks for a password reset link by email. The API always answers true, so the page never says
// whether an account exists.

import { h, replace } from '../dom.js';
import { request } from '../graphql.js';
import { button, field, handleSubmit } from '../ui.js';

export const title = 'Forgot password';

export function render(container) {
  const card = h('section', { class: 'auth-card' });
  const form = h('form', { class: 'form' },
    h('h1', { tabindex: '-1', text: 'Reset your password' }),
    h('p', { class: 'muted', text: 'Enter your email and we will send you a link to choose a new password.' }),
    field({ label: 'Email', name: 'email', type: 'email', required: true, autocomplete: 'username', autofocus: true }),
    button('Send reset link', { kind: 'primary', type: 'submit', class: 'btn btn-primary btn-block' }),
    h('p', { class: 'auth-links' }, h('a', { href: '/sign-in', text: 'Back to sign in' })));
  handleSubmit(form, async ({ email }) => {
    await request('RequestPasswordReset', { email });
    replace(card,
      h('h1', { tabindex: '-1', text: 'Check your email' }),
      h('p', {}, 'If an account exists for ', h('strong', { text: email }),
        ', a link to reset its password is on its way. The link works for a limited time.'),
      h('p', { class: 'auth-links' }, h('a', { href: '/sign-in', text: 'Back to sign in' })));
  });
  card.append(form);
  container.append(card);
}
