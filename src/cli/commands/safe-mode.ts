// `haos-rescue safe-mode SOURCE [--off]`: the next start of Home Assistant skips custom integrations.

import { CARD, mediumOf } from '../../actions/write/medium.js';
import type { CommandModule } from 'yargs';
import { printJson, warn, writeOut } from '../output.js';
import { type GlobalArgs, withArgsSource, withSourceArg } from './common.js';
import { type WriteArgs, withWriteOptions, writeOptions, writeReport } from './write-options.js';

type SafeModeArgs = WriteArgs & { source?: string; off?: boolean };

export const safeModeCommand: CommandModule<GlobalArgs, SafeModeArgs> = {
  command: 'safe-mode [source]',
  describe: 'Make the next start of Home Assistant skip custom integrations (safe mode); --off undoes it',
  builder: (y) => withWriteOptions(withSourceArg(y)).option('off', { type: 'boolean', describe: 'remove the safe-mode marker instead' }) as never,
  handler: async (argv) => {
    const { setSafeMode } = await import('../../actions/repair/index.js');
    const options = writeOptions(argv);
    const on = !argv.off;
    let medium = CARD;
    const r = await withArgsSource(argv, async (s) => {
      if (!argv.json) for (const w of s.warnings) warn(w);
      medium = mediumOf(s);
      return setSafeMode(s, on, options);
    });
    if (argv.json) return printJson(r);
    if (!r.write) {
      await writeOut(`${on ? `Safe mode is already set: ${r.path} is there.` : `Safe mode is not set: there is no ${r.path}.`}\n`);
      return;
    }
    const { before, after } = writeReport(r.write);
    const lines = [...before];
    if (r.write.dryRun) lines.push(`Dry run: nothing was written. It would ${on ? 'create' : 'remove'} the empty file ${r.path}; rehearsed in memory and read back.`);
    else lines.push(on ? `Safe mode set: ${r.path} created, read back from ${medium.the}.` : `Safe mode marker removed: ${r.path}.`);
    lines.push(...after);
    if (on && !r.write.dryRun) lines.push(`Next: ${medium.startIt}: Home Assistant starts without custom integrations, once. Remove or fix the integration that broke it, then restart normally.`);
    await writeOut(`${lines.join('\n')}\n`);
  },
};
