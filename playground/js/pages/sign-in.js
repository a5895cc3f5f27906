// Sign in, with the second step for accounts with two-factor authentication: after
// TWO_FACTOR_REQUIRED, a code from the authenticator app or a recovery code.

import { safeNext, startSession, takeFlash } from '../auth.js';
import { h, replace } from '../dom.js';
import { request } from '../graphql.js';
import { button, field, handleSubmit } from '../ui.js';

export const title = 'Sign in';

export function render(container, { query }) {
  const next = safeNext(query.get('next'));
  const notice = takeFlash();
  const card = h('section', { class: 'auth-card' });
  container.append(card);

  const passwordStep = () => {
    const noticeBox = notice && h('div', { class: 'alert alert-info', role: 'status', text: notice });
    const form = h('form', { class: 'form', novalidate: false },
      h('h1', { tabindex: '-1', text: 'Sign in' }),
      h('p', { class: 'muted', text: 'Use your portal account.' }),
      noticeBox,
      field({ label: 'Email', name: 'email', type: 'email', required: true, autocomplete: 'username', autofocus: true }),
      field({ label: 'Password', name: 'password', type: 'password', required: true, autocomplete: 'current-password' }),
      button('Sign in', { kind: 'primary', type: 'submit', class: 'btn btn-primary btn-block' }),
      h('p', { class: 'auth-links' }, h('a', { href: '/forgot-password', text: 'Forgot your password?' })));
    handleSubmit(form, async ({ email, password }) => {
      noticeBox?.remove(); // "Your session has ended" is old news once they sign in again
      try {
        await signIn({ email, password });
      } catch (error) {
        if (error.code !== 'TWO_FACTOR_REQUIRED') throw error;
        secondStep({ email, password });
      }
    });
    replace(card, form);
  };

  const secondStep = (credentials, useRecovery = false) => {
    const input = useRecovery
      ? field({ label: 'Recovery code', name: 'code', required: true, autocomplete: 'off', autofocus: true,
        hint: 'One of the codes you saved when you set up two-factor authentication. Each works once.' })
      : field({ label: 'Authentication code', name: 'code', required: true, autocomplete: 'one-time-code',
        inputmode: 'numeric', pattern: '[0-9 ]{6,7}', autofocus: true,
        hint: 'The 6-digit code from your authenticator app.' });
    const form = h('form', { class: 'form' },
      h('h1', { tabindex: '-1', text: 'Two-factor authentication' }),
      h('p', { class: 'muted' }, 'Signing in as ', h('strong', { text: credentials.email }), '.'),
      input,
      button('Verify and sign in', { kind: 'primary', type: 'submit', class: 'btn btn-primary btn-block' }),
      h('p', { class: 'auth-links' },
        button(useRecovery ? 'Use a code from your app instead' : 'Use a recovery code instead', {
          kind: 'link', onClick: () => secondStep(credentials, !useRecovery),
        }),
        button('Start over', { kind: 'link', onClick: passwordStep })));
    handleSubmit(form, async ({ code }) => {
      const clean = code.replace(/\s+/g, '');
      await signIn(useRecovery ? { ...credentials, recoveryCode: clean } : { ...credentials, totpCode: clean });
    });
    replace(card, form);
    form.querySelector('input')?.focus();
  };

  const signIn = async (input) => {
    const { signIn: session } = await request('SignIn', { input });
    await startSession(session.token, next);
  };

  passwordStep();
}
