// A user's page: profile (name, email, role), access actions (re-send invitation, password
// reset, disable 2FA), Discard/Undiscard, Become, memberships and History.

import { h, replace } from '../dom.js';
import { request } from '../graphql.js';
import { endSession } from '../auth.js';
import { historySection } from '../history.js';
import {
  ROLE_OPTIONS, badge, busy, button, card, confirmDialog, details, enumBadge, errorState, field,
  handleSubmit, loadInto, loading, pageHeader, table, time, toast, whenServed,
} from '../ui.js';
import { becomeServed, becomeWithReason, canBecome } from './users.js';

export const title = 'User';

export function render(container, { params, viewer }) {
  const id = params.id;
  let offerBecome = false;
  const show = (user) => {
    document.title = `${user.name} · Portal admin`;
    replace(container, ...view(user, viewer, show, offerBecome));
  };
  container.append(loading('Loading user…'));
  Promise.all([request('User', { id }), becomeServed()])
    .then(([{ user }, served]) => {
      if (!user) throw Object.assign(new Error('This user does not exist or is not visible to you.'), { code: 'NOT_FOUND' });
      offerBecome = served;
      show(user);
    })
    .catch((error) => replace(container, pageHeader('User', { back: { href: '/users', label: 'Users' } }), errorState(error)));
}

function view(user, viewer, show, offerBecome) {
  const isAdmin = viewer.user.role === 'ADMIN';
  const isSelf = user.id === viewer.user.id;
  const actions = [];
  if (canBecome(viewer, user, offerBecome)) {
    actions.push(button('Become', { onClick: (e) => becomeWithReason(user, e.currentTarget) }));
  }
  // What the API allows: admins edit, discard and secure others; anyone renames themself; a
  // company's supervisors re-send its invitations.
  if (isAdmin && !isSelf && user.status === 'DISCARDED') {
    actions.push(button('Undiscard', { onClick: (e) => undiscard(user, e.currentTarget, show) }));
  } else if (isAdmin && !isSelf) {
    actions.push(button('Discard', { kind: 'danger', onClick: (e) => discard(user, e.currentTarget, show) }));
  }

  return [
    pageHeader(user.name, {
      subtitle: h('span', { class: 'header-badges' }, user.email, ' ', enumBadge(user.role), ' ', enumBadge(user.status),
        user.twoFactorEnabled ? badge('2FA on', 'green') : badge('2FA off', 'gray')),
      actions,
      back: { href: '/users', label: 'Users' },
    }),
    user.status === 'DISCARDED' && h('div', { class: 'alert alert-warning', role: 'status' },
      'This account is discarded since ', time(user.discardedAt), '. The user cannot sign in; the record is kept for audit. Undiscard restores access.'),
    h('div', { class: 'grid-main' },
      h('div', { class: 'stack' },
        isAdmin || isSelf ? profileCard(user, show, { isSelf }) : card('Profile', details([
          ['Name', user.name], ['Email', user.email], ['Role', enumBadge(user.role)]])),
        membershipsCard(user),
        historySection(async (after) => (await request('UserHistory', { id: user.id, after })).user.history, { record: { type: 'USER', id: user.id } })),
      h('div', { class: 'stack' },
        card('Account',
          details([
            ['Last sign-in', time(user.lastSignInAt)],
            ['Invitation sent', time(user.invitationSentAt, '—')],
            ['Created', time(user.createdAt)],
            ['Two-factor', user.twoFactorEnabled ? 'Enabled' : 'Not enabled'],
            user.pendingEmail && ['New email (waiting for confirmation)', user.pendingEmail],
          ])),
        (isAdmin || viewer.user.role === 'SUPERVISOR') && accessCard(user, show, isAdmin),
        // Sessions are account security: admins see anyone's, everyone their own, nobody while
        // impersonating (the API answers the same).
        (isAdmin || isSelf) && !viewer.impersonator && card('Sessions', sessionsCard(user, isSelf)))),
  ];
}

/** The user's signed-in devices, with "Sign out" per session and "Sign out everywhere". */
function sessionsCard(user, isSelf) {
  return whenServed(['UserSessions'], () => {
    const body = h('div', {});
    const reload = loadInto(body, async () => (await request('UserSessions', { userId: user.id })).userSessions,
      (sessions) => [
        table([
          { label: 'Device', render: (s) => h('span', {}, s.device || 'Unknown device', ' ',
            s.current && badge('This session', 'green'),
            s.isImpersonation && badge(s.impersonator ? `Impersonation by ${s.impersonator.name}` : 'Impersonation', 'amber')) },
          { label: 'Address', render: (s) => s.address || '—' },
          { label: 'Signed in', render: (s) => time(s.createdAt) },
          { label: 'Last seen', render: (s) => time(s.lastSeenAt) },
          { label: '', class: 'actions', render: (s) => button(s.current ? 'Sign out here' : 'Sign out', {
            onClick: (e) => signOutOne(user, s, e.currentTarget, reload) }) },
        ], sessions, { caption: 'Sessions', empty: 'Not signed in anywhere.' }),
        sessions.some((s) => !s.current) && h('div', { class: 'form-actions' },
          button(isSelf ? 'Sign out everywhere else' : 'Sign out everywhere', {
            kind: 'danger', onClick: (e) => signOutAll(user, isSelf, e.currentTarget, reload) })),
      ]);
    return body;
  });
}

async function signOutOne(user, session, btn, reload) {
  const ok = await confirmDialog({
    title: session.current ? 'Sign out of this session?' : 'Sign out this session?',
    body: session.current
      ? 'You are using this session: you will be signed out now.'
      : `${session.device || 'This device'} (${session.address || 'unknown address'}) is signed out at its next request.`,
    confirmLabel: 'Sign out',
    danger: true,
  });
  if (ok === null) return;
  await busy(btn, async () => {
    const { signOutSession } = await request('SignOutSession', { id: session.id });
    toast(signOutSession ? 'Session signed out.' : 'That session had already ended.');
    if (session.current) { endSession('You have signed out.', false); return; }
    reload();
  });
}

async function signOutAll(user, isSelf, btn, reload) {
  const ok = await confirmDialog({
    title: isSelf ? 'Sign out everywhere else?' : `Sign ${user.name} out everywhere?`,
    body: isSelf
      ? 'Every other device signed in to your account is signed out; this one stays.'
      : `Every session of ${user.name} ends, with any impersonation of them. They sign in again to continue.`,
    confirmLabel: 'Sign out everywhere',
    danger: true,
  });
  if (ok === null) return;
  await busy(btn, async () => {
    const { signOutEverywhere } = await request('SignOutEverywhere', { userId: user.id });
    toast(signOutEverywhere === 1 ? '1 session signed out.' : `${signOutEverywhere} sessions signed out.`);
    reload();
  });
}

/** Admins edit name, email and role; on your own page only your name (nobody changes their own role). */
function profileCard(user, show, { isSelf }) {
  const form = h('form', { class: 'form' },
    field({ label: 'Name', name: 'name', value: user.name, required: true, autocomplete: 'off' }),
    !isSelf && field({ label: 'Email', name: 'email', type: 'email', value: user.email, required: true, autocomplete: 'off' }),
    !isSelf && field({ label: 'Role', name: 'role', type: 'select', value: user.role, options: ROLE_OPTIONS,
      hint: 'Role changes have wide implications: they change what this person can see and do.' }),
    h('div', { class: 'form-actions' }, button('Save changes', { kind: 'primary', type: 'submit' })));
  handleSubmit(form, async ({ name, email = user.email, role = user.role }) => {
    const input = { id: user.id, expectedVersion: user.version };
    if (name.trim() !== user.name) input.name = name.trim();
    if (email.trim() !== user.email) input.email = email.trim();
    if (role !== user.role) {
      const ok = await confirmDialog({
        title: `Change role to ${role.toLowerCase()}?`,
        body: `${user.name} is ${user.role.toLowerCase()} now. Changing the role changes what they can see and do across the portal.`,
        confirmLabel: 'Change role',
      });
      if (ok === null) return;
      input.role = role;
    }
    if (Object.keys(input).length === 2) { toast('Nothing to save.', 'info'); return; }
    const { updateUser } = await request('UpdateUser', { input });
    // A new email of an active user waits for the link mailed to the new address.
    toast(input.email && updateUser.pendingEmail === input.email
      ? `Saved. The email changes once ${input.email} confirms the link we mailed to it.`
      : 'Changes saved.');
    show(updateUser);
  });
  return card('Profile', form);
}

function membershipsCard(user) {
  if (!user.memberships.length) return card('Companies and teams', h('p', { class: 'muted', text: 'Not a member of any company.' }));
  return card('Companies and teams',
    h('ul', { class: 'list' }, user.memberships.map((m) => {
      const teams = user.teams.filter((t) => t.company.id === m.company.id);
      return h('li', { class: 'list-row' },
        h('a', { href: `/companies/${encodeURIComponent(m.company.id)}`, text: m.company.name }),
        enumBadge(m.role),
        h('span', { class: 'muted small', text: teams.length ? `Teams: ${teams.map((t) => t.name).join(', ')}` : 'No teams' }));
    })));
}

function accessCard(user, show, isAdmin) {
  const rows = [];
  if (user.status === 'INVITED') {
    rows.push(actionRow('Invitation', 'Send the invitation email again, with a fresh link.',
      button('Re-send invitation', { onClick: (e) => busy(e.currentTarget, async () => {
        const { resendInvitation } = await request('ResendInvitation', { userId: user.id });
        toast(`Invitation sent again to ${user.email}.`);
        show(resendInvitation);
      }) })));
  }
  if (isAdmin && user.status === 'ACTIVE') {
    rows.push(actionRow('Password', 'Email the user a link to choose a new password.',
      button('Send password reset', { onClick: (e) => busy(e.currentTarget, async () => {
        await request('SendPasswordReset', { userId: user.id });
        toast(`Password reset link sent to ${user.email}.`);
      }) })));
  }
  if (isAdmin && user.twoFactorEnabled) {
    rows.push(actionRow('Two-factor authentication', 'For a user who is locked out and has lost their recovery codes.',
      button('Disable 2FA', { kind: 'danger', onClick: (e) => disableTwoFactor(user, e.currentTarget, show) })));
  }
  if (!rows.length) return null;
  return card('Access', h('div', { class: 'action-rows' }, rows));
}

function actionRow(label, text, action) {
  return h('div', { class: 'action-row' },
    h('div', {}, h('strong', { text: label }), h('p', { class: 'muted small', text })),
    action);
}

async function disableTwoFactor(user, btn, show) {
  const answer = await confirmDialog({
    title: `Disable 2FA for ${user.name}?`,
    body: h('div', {},
      h('p', { text: 'Only after you verified their identity through an out-of-band channel — don’t trust the email, it may be compromised.' }),
      h('p', { text: 'Tell them to enable 2FA again after signing in, and note this in your support records.' })),
    confirmLabel: 'Disable 2FA',
    danger: true,
    reason: { label: 'Reason', hint: 'Recorded in the audit log.', placeholder: 'Verified by phone call, ticket #…' },
    password: { label: 'Your password', hint: 'Confirms it is you before 2FA is turned off.' },
  });
  if (answer === null) return;
  const { reason, password } = answer;
  await busy(btn, async () => {
    const { disableTwoFactor: updated } = await request('DisableTwoFactor', {
      input: { userId: user.id, reason, currentPassword: password },
    });
    toast(`Two-factor authentication disabled for ${user.name}.`);
    show(updated);
  });
}

async function discard(user, btn, show) {
  const ok = await confirmDialog({
    title: `Discard ${user.name}?`,
    body: `${user.name} loses access immediately and every session ends. The account is kept for audit; you can undiscard it later.`,
    confirmLabel: 'Discard user',
    danger: true,
  });
  if (ok === null) return;
  await busy(btn, async () => {
    const { discardUser } = await request('DiscardUser', { userId: user.id });
    toast(`${user.name} is discarded.`);
    show(discardUser);
  });
}

async function undiscard(user, btn, show) {
  await busy(btn, async () => {
    const { undiscardUser } = await request('UndiscardUser', { userId: user.id });
    toast(`${user.name} is restored.`);
    show(undiscardUser);
  });
}
