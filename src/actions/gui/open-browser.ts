// Opens the page in the default browser: `open` on macOS, the URL handler on Windows, `xdg-open` on Linux.
// Under sudo on Linux or macOS the browser is started as the user who ran sudo: browsers refuse to run as
// root, and the user's own browser is the one they know. A failure is not fatal: the address is printed.

import { spawn } from 'node:child_process';

export interface BrowserCommand {
  cmd: string;
  args: string[];
}

export function browserCommand(url: string, platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? -1): BrowserCommand {
  if (platform === 'win32') return { cmd: 'rundll32', args: ['url.dll,FileProtocolHandler', url] };
  const opener = platform === 'darwin' ? 'open' : 'xdg-open';
  const sudoUser = env['SUDO_USER'];
  if (uid === 0 && sudoUser && sudoUser !== 'root' && /^[A-Za-z0-9._-]+$/.test(sudoUser)) {
    const keep = 'DISPLAY,WAYLAND_DISPLAY,XAUTHORITY,DBUS_SESSION_BUS_ADDRESS,XDG_RUNTIME_DIR';
    return { cmd: 'sudo', args: ['-u', sudoUser, `--preserve-env=${keep}`, opener, url] };
  }
  return { cmd: opener, args: [url] };
}

/** Starts the browser and does not wait for it; resolves false when the opener could not be started. */
export function openBrowser(url: string): Promise<boolean> {
  const { cmd, args } = browserCommand(url);
  return new Promise((resolve) => {
    try {
      const child = spawn(cmd, args, { detached: true, stdio: 'ignore', windowsHide: true });
      child.once('error', () => resolve(false));
      child.once('spawn', () => {
        child.unref();
        resolve(true);
      });
    } catch {
      resolve(false);
    }
  });
}

/** Whether a desktop is there to show a browser (for starting the window when no terminal is attached). */
export function hasDesktop(platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env['CI']) return false;
  if (platform === 'win32' || platform === 'darwin') return true;
  return Boolean(env['DISPLAY'] || env['WAYLAND_DISPLAY']);
}
