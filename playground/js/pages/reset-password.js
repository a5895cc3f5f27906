// The link in a password reset email: choose a new password.

import { h, replace } from '../dom.js';
import { ApiError, request } from '../graphql.js';
import { button, field, handleSubmit } from '../ui.js';

export const title = 'Choose a new password';

/** The "new password" and "confirm" pair, shared with accepting an invitation. */
export function passwordFields() {
  return [
    field({ label: 'New password', name: 'password', type: 'password', required: true,
      autocomplete: 'new-password', minlength: 15, hint: 'At least 15 characters. A short sentence works well.' }),
    field({ label: 'Confirm password', name: 'confirm', type: 'password', required: true, autocomplete: 'new-password' }),
  ];
}

export function checkPasswords(password, confirm) {
  if (password !== confirm) {
    throw new ApiError('The two passwords are not the same.', 'BAD_USER_INPUT', { field: 'confirm' });
  }
}

export function render(container, { query }) {
  const token = query.get('token');
  const card = h('section', { class: 'auth-card' });
  container.append(card);
  if (!token) {
    card.append(
      h('h1', { tabindex: '-1', text: 'Reset link incomplete' }),
      h('p', { text: 'This link has no reset token. Open the link from the email again, or ask for a new one.' }),
      h('p', { class: 'auth-links' }, h('a', { href: '/forgot-password', text: 'Ask for a new link' })));
    return;
  }
  const form = h('form', { class: 'form' },
    h('h1', { tabindex: '-1', text: 'Choose a new password' }),
    passwordFields(),
    button('Change password', { kind: 'primary', type: 'submit', class: 'btn btn-primary btn-block' }));
  handleSubmit(form, async ({ password, confirm }) => {
    checkPasswords(password, confirm);
    try {
      await request('ResetPassword', { input: { token, password } });
    } catch (error) {
      if (error.code === 'INVALID_TOKEN') {
        throw new ApiError(`${error.message} Ask for a new link from the sign-in page.`, error.code);
      }
      throw error;
    }
    replace(card,
      h('h1', { tabindex: '-1', text: 'Password changed' }),
      h('p', { text: 'Your password has been changed. Sign in with the new one.' }),
      h('p', {}, h('a', { class: 'btn btn-primary', href: '/sign-in', text: 'Sign in' })));
  });
  card.append(form);
}
