// My account: change password and email, and two-factor authentication (enroll with a QR code, recovery
// codes shown once, regenerate them).

import { loadViewer } from '../auth.js';
import { h, replace } from '../dom.js';
import { request } from '../graphql.js';
import { navigate } from '../router.js';
import { qrSvg } from '../qr.js';
import {
  badge, button, card, details, enumBadge, field, handleSubmit, pageHeader, toast, whenServed,
} from '../ui.js';
import { checkPasswords } from './reset-password.js';

export const title = 'My account';

export function render(container, { viewer }) {
  const { user } = viewer;
  // Password, email and 2FA are the user's own security: the API refuses them to an admin who
  // impersonates (FORBIDDEN_WHILE_IMPERSONATING), so they are not offered then.
  const security = viewer.impersonation
    ? [card('Password and two-factor authentication',
      h('p', { class: 'muted', text: `${user.name}'s password, email and two-factor authentication cannot be changed while impersonating.` }))]
    : [passwordCard(), emailCard(user), twoFactorCard(user)];
  container.append(
    pageHeader('My account', { subtitle: 'Your profile, password, email and two-factor authentication.' }),
    h('div', { class: 'grid-main' },
      h('div', { class: 'stack' }, security),
      h('div', { class: 'stack' }, profileCard(user))));
}

/** The name is editable (also while impersonating, as the user's own change); the rest is shown. */
function profileCard(user) {
  const form = h('form', { class: 'form' },
    field({ label: 'Name', name: 'name', value: user.name, required: true, autocomplete: 'name' }),
    h('div', { class: 'form-actions' }, button('Save name', { kind: 'primary', type: 'submit' })));
  handleSubmit(form, async ({ name }) => {
    if (name.trim() === user.name) { toast('Nothing to save.', 'info'); return; }
    await request('UpdateUser', { input: { id: user.id, name: name.trim() } });
    await loadViewer({ refresh: true });
    toast('Name saved.');
    await navigate('/account', { replace: true }); // the shell shows the new name
  });
  return card('Profile', form, details([
    ['Email', user.email],
    ['Role', enumBadge(user.role)],
  ]));
}

/**
 * Changing one's own email: the current password, then a link to the new address; the address
 * changes when that link is used (`/confirm-email`), and the old one is told.
 */
function emailCard(user) {
  const pending = h('div', { class: 'pending-email' });
  const showPending = (address) => {
    replace(pending, address
      ? h('p', { class: 'muted', role: 'status' },
        `Waiting for confirmation: we sent a link to ${address}. Your address stays ${user.email} until it is used.`)
      : []);
  };
  request('MyPendingEmail', { id: user.id })
    .then(({ user: mine }) => showPending(mine?.pendingEmail))
    .catch(() => showPending(null));
  const form = h('form', { class: 'form' },
    field({ label: 'New email', name: 'email', type: 'email', required: true, autocomplete: 'email' }),
    field({ label: 'Current password', name: 'currentPassword', type: 'password', required: true, autocomplete: 'current-password' }),
    h('div', { class: 'form-actions' }, button('Change email', { kind: 'primary', type: 'submit' })));
  handleSubmit(form, async ({ email, currentPassword }) => {
    const { updateUser } = await request('ChangeMyEmail', {
      input: { id: user.id, email: email.trim(), currentPassword },
    });
    form.reset();
    showPending(updateUser.pendingEmail);
    toast(updateUser.pendingEmail
      ? `We sent a confirmation link to ${updateUser.pendingEmail}.`
      : 'Email unchanged.');
  });
  return card('Email', pending, whenServed(['ChangeMyEmail', 'MyPendingEmail'], () => form));
}

function passwordCard() {
  const form = h('form', { class: 'form' },
    field({ label: 'Current password', name: 'currentPassword', type: 'password', required: true, autocomplete: 'current-password' }),
    field({ label: 'New password', name: 'password', type: 'password', required: true, autocomplete: 'new-password', minlength: 15,
      hint: 'At least 15 characters. A short sentence works well.' }),
    field({ label: 'Confirm new password', name: 'confirm', type: 'password', required: true, autocomplete: 'new-password' }),
    h('div', { class: 'form-actions' }, button('Change password', { kind: 'primary', type: 'submit' })));
  handleSubmit(form, async ({ currentPassword, password, confirm }) => {
    checkPasswords(password, confirm);
    await request('ChangePassword', { input: { currentPassword, newPassword: password } });
    form.reset();
    toast('Password changed.');
  });
  return card('Password', whenServed(['ChangePassword'], () => form));
}

function twoFactorCard(user) {
  const body = h('div', { class: 'two-factor' });
  const showState = (enabled) => {
    if (enabled) {
      replace(body,
        h('p', {}, badge('Enabled', 'green'), ' Signing in asks for a code from your authenticator app.'),
        regenerateForm());
    } else {
      replace(body,
        h('p', {}, badge('Not enabled', 'gray'), ' Protect your account with a code from an authenticator app.'),
        startForm());
    }
  };

  // The API asks for the password again before it shows a new secret.
  const startForm = () => {
    const form = h('form', { class: 'form' },
      field({ label: 'Confirm with your password', name: 'currentPassword', type: 'password', required: true,
        autocomplete: 'current-password' }),
      h('div', { class: 'form-actions' },
        button('Set up two-factor authentication', { kind: 'primary', type: 'submit' })));
    handleSubmit(form, async ({ currentPassword }) => {
      const { startTwoFactorEnrollment: enrollment } = await request('StartTwoFactorEnrollment', { currentPassword });
      showEnrollment(enrollment);
    });
    return form;
  };

  const showEnrollment = (enrollment) => {
    const form = h('form', { class: 'form' },
      field({ label: 'Code from the app', name: 'code', required: true, autocomplete: 'one-time-code', inputmode: 'numeric',
        pattern: '[0-9 ]{6,7}', hint: 'Enter the 6-digit code the app shows to finish.' }),
      h('div', { class: 'form-actions' },
        button('Cancel', { onClick: () => showState(false) }),
        button('Turn on two-factor authentication', { kind: 'primary', type: 'submit' })));
    handleSubmit(form, async ({ code }) => {
      const { confirmTwoFactorEnrollment } = await request('ConfirmTwoFactorEnrollment', { code: code.replace(/\s+/g, '') });
      await loadViewer({ refresh: true });
      showCodes(confirmTwoFactorEnrollment.codes);
    });
    replace(body,
      h('ol', { class: 'steps' },
        h('li', {}, 'Scan this QR code with your authenticator app (or enter the key by hand).'),
        h('li', {}, 'Enter the code the app shows.')),
      h('div', { class: 'enroll' },
        h('div', { class: 'qr-frame' }, qrSvg(enrollment.otpauthUri, { label: 'QR code for your authenticator app' })),
        h('div', {},
          h('p', { class: 'muted small', text: 'Key for manual entry' }),
          h('code', { class: 'secret', text: enrollment.secret.replace(/(.{4})/g, '$1 ').trim() }))),
      form);
    form.querySelector('input').focus();
  };

  const showCodes = (codes) => {
    const done = button('I have saved my recovery codes', { kind: 'primary', onClick: () => showState(true) });
    replace(body,
      h('div', { class: 'alert alert-warning', role: 'alert' },
        h('strong', { text: 'Save these recovery codes now. ' }),
        'They are shown only once. Each one signs you in once if you lose your authenticator app.'),
      h('ul', { class: 'recovery-codes', 'aria-label': 'Recovery codes' }, codes.map((c) => h('li', {}, h('code', { text: c })))),
      h('div', { class: 'form-actions' },
        button('Copy codes', { onClick: async () => {
          try {
            await navigator.clipboard.writeText(codes.join('\n'));
            toast('Recovery codes copied.');
          } catch {
            toast('Copying is not allowed here; write the codes down instead.', 'error');
          }
        } }),
        done));
    done.focus();
  };

  const regenerateForm = () => {
    const form = h('form', { class: 'inline-form' },
      field({ label: 'Code from the app', name: 'code', required: true, autocomplete: 'one-time-code', inputmode: 'numeric' }),
      button('New recovery codes', { kind: 'secondary', type: 'submit' }));
    handleSubmit(form, async ({ code }) => {
      const { regenerateRecoveryCodes } = await request('RegenerateRecoveryCodes', { code: code.replace(/\s+/g, '') });
      showCodes(regenerateRecoveryCodes.codes);
    });
    return h('div', {}, h('p', { class: 'muted small', text: 'Lost your recovery codes? Make new ones; the old ones stop working.' }), form);
  };

  showState(user.twoFactorEnabled);
  return card('Two-factor authentication',
    whenServed(['StartTwoFactorEnrollment', 'ConfirmTwoFactorEnrollment'], () => body));
}
