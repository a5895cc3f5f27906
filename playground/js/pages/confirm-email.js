// The link in an email-change confirmation, opened from the new address: confirm it. Public (the
// token is the proof), and the click is explicit so a mail scanner that follows links does not
// change the address on its own.

import { h, replace } from '../dom.js';
import { ApiError, request } from '../graphql.js';
import { button, handleSubmit } from '../ui.js';

export const title = 'Confirm your new email address';

export function render(container, { query }) {
  const token = query.get('token');
  const card = h('section', { class: 'auth-card' });
  container.append(card);
  if (!token) {
    card.append(
      h('h1', { tabindex: '-1', text: 'Confirmation link incomplete' }),
      h('p', { text: 'This link has no token. Open the link from the email again, or change your email once more from My account.' }));
    return;
  }
  const form = h('form', { class: 'form' },
    h('h1', { tabindex: '-1', text: 'Confirm your new email address' }),
    h('p', { text: 'Your account will use this address from now on: sign-in, password resets and notices go to it. The old address is told about the change.' }),
    button('Confirm new address', { kind: 'primary', type: 'submit', class: 'btn btn-primary btn-block' }));
  handleSubmit(form, async () => {
    try {
      await request('ConfirmEmailChange', { token });
    } catch (error) {
      if (error.code === 'INVALID_TOKEN') {
        throw new ApiError(`${error.message} Change your email again from My account to get a new link.`, error.code);
      }
      throw error;
    }
    replace(card,
      h('h1', { tabindex: '-1', text: 'Email address changed' }),
      h('p', { text: 'Your account now uses the new address. Sign in with it from now on.' }),
      h('p', {}, h('a', { class: 'btn btn-primary', href: '/sign-in', text: 'Sign in' })));
  });
  card.append(form);
}
