// Any path the console does not know.

import { h } from '../dom.js';
import { pageHeader } from '../ui.js';

export const title = 'Not found';

export function render(container) {
  container.append(
    pageHeader('Page not found'),
    h('p', {}, 'There is nothing at this address. ', h('a', { href: '/users', text: 'Go to Users' }), '.'));
}
