// RFC 6238 TOTP (SHA-1, 6 digits, 30 s), to answer the portal's 2FA prompts in stories.

import { createHmac } from 'node:crypto';

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    const value = alphabet.indexOf(c);
    if (value < 0) throw new Error(`not base32: ${c}`);
    bits += value.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

export function totp(secret, time = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(time / 1000 / 30)));
  const hmac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = hmac[hmac.length - 1] & 0xf;
  const code = (hmac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(code).padStart(6, '0');
}

export const STEP_MS = 30_000;

/**
 * A code the portal accepts after step `usedStep`: it refuses a step it has already seen and
 * allows one step of drift, so this is the current step's code, or the next step's while the
 * current one is used up (waiting for the clock when even that is used). Resolves to
 * { code, step }; pass `step` back as `usedStep` next time.
 */
export async function freshCode(secret, usedStep = -1) {
  for (;;) {
    const current = Math.floor(Date.now() / STEP_MS);
    const step = Math.max(current, usedStep + 1);
    if (step <= current + 1) return { code: totp(secret, step * STEP_MS), step };
    await new Promise((resolve) => { setTimeout(resolve, (current + 1) * STEP_MS - Date.now() + 50); });
  }
}
