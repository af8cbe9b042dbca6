// The browser's Back button. The window is one page, and Back left it: haos-rescue then ended (the page was
// closed), typed passwords were lost and a copy under way was stopped. Back now goes back inside the window,
// to the card screen (or the disk list), never off the page; during a change or a copy it stays where it is.

import { announce } from './dom.js';
import { app, nav } from './state.js';

export function keepBackInside(): void {
  history.pushState({ inWindow: true }, '');
  window.addEventListener('popstate', () => {
    history.pushState({ inWindow: true }, '');
    if (app.stopped) return;
    if (document.querySelector('dialog[open]') !== null || document.querySelector('.progress-box') !== null) {
      announce('Back waits: a change or a copy is under way. Use its own buttons.');
      return;
    }
    const screen = document.querySelector('#main > section.screen');
    if (screen?.classList.contains('disks')) return announce('This is the first screen. To end haos-rescue, close this tab.');
    if (app.card && !screen?.classList.contains('card')) return nav.card();
    if (screen?.classList.contains('card')) return announce('This is the card screen. To end haos-rescue, close this tab; for another disk, choose “Choose another disk”.');
    nav.disks();
  });
}
