// The link in an invitation email: choose a password (and confirm the name), then signed in.

import { startSession } from '../auth.js';
import { h } from '../dom.js';
import { ApiError, request } from '../graphql.js';
import { button, field, handleSubmit } from '../ui.js';
import { passwordFields, checkPasswords } from './reset-password.js';

export const title = 'Accept invitation';

export function render(container, { query }) {
  const token = query.get('token');
  const card = h('section', { class: 'auth-card' });
  container.append(card);
  if (!token) {
    card.append(
      h('h1', { tabindex: '-1', text: 'Invitation link incomplete' }),
      h('p', { text: 'This link has no invitation token. Open the link from your invitation email again, or ask whoever invited you to re-send it.' }),
      h('p', { class: 'auth-links' }, h('a', { href: '/sign-in', text: 'Go to sign in' })));
    return;
  }
  const form = h('form', { class: 'form' },
    h('h1', { tabindex: '-1', text: 'Welcome to the portal' }),
    h('p', { class: 'muted', text: 'Choose a password to finish setting up your account.' }),
    field({ label: 'Your name', name: 'name', autocomplete: 'name', hint: 'Leave empty to keep the name you were invited with.' }),
    passwordFields(),
    button('Create account and sign in', { kind: 'primary', type: 'submit', class: 'btn btn-primary btn-block' }));
  handleSubmit(form, async ({ name, password, confirm }) => {
    checkPasswords(password, confirm);
    const input = { token, password, ...(name.trim() ? { name: name.trim() } : {}) };
    try {
      const { acceptInvitation } = await request('AcceptInvitation', { input });
      await startSession(acceptInvitation.token, '/users');
    } catch (error) {
      if (error.code === 'INVALID_TOKEN') {
        throw new ApiError(`${error.message} Ask whoever invited you to re-send the invitation.`, error.code);
      }
      throw error;
    }
  });
  card.append(form);
}
