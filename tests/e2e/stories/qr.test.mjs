// The console's QR encoder (playground/js/qr.js) makes codes a real decoder reads back.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import jsQR from 'jsqr';
import { encodeQr } from '../../../playground/js/qr.js';

function decode(text) {
  const { size, modules } = encodeQr(text);
  const scale = 4;
  const quiet = 4;
  const side = (size + quiet * 2) * scale;
  const pixels = new Uint8ClampedArray(side * side * 4).fill(255);
  for (let y = 0; y < size; y += 1) {
    for (let x = 0; x < size; x += 1) {
      if (!modules[y][x]) continue;
      for (let dy = 0; dy < scale; dy += 1) {
        for (let dx = 0; dx < scale; dx += 1) {
          const i = (((y + quiet) * scale + dy) * side + (x + quiet) * scale + dx) * 4;
          pixels[i] = 0; pixels[i + 1] = 0; pixels[i + 2] = 0;
        }
      }
    }
  }
  return jsQR(pixels, side, side)?.data;
}

test('QR codes decode to their text, from tiny to long', () => {
  const samples = [
    'a',
    'otpauth://totp/portal-admin:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=portal-admin',
    `otpauth://totp/Portal%20Admin:${'x'.repeat(60)}%40example.com?secret=${'ABCDEFGHIJKLMNOP'.repeat(4)}&issuer=Portal%20Admin&algorithm=SHA1&digits=6&period=30`,
    'Grüße, ünïcödé ✓',
    'y'.repeat(300),
    'z'.repeat(1200),
  ];
  for (const text of samples) assert.equal(decode(text), text, `round trip of ${text.length} chars`);
});
