// The browser window (`haos-rescue gui`): a local server on the same actions as the wizard, and the page it
// serves (page/). The entry the CLI loads, only when the window is asked for.

export { type GuiHandle, type GuiOptions, startGui } from './server.js';
export { DEFAULT_LIFETIME, type LifetimeOptions } from './lifetime.js';
export { browserCommand, hasDesktop, openBrowser } from './open-browser.js';
export { downloadsFolder, userHome } from './summary.js';
