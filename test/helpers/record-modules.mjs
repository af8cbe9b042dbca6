// `node --import ./record-modules.mjs`: appends the URL of every file module the program loads to the file
// named by HAOS_RESCUE_MODULES_LOG (Node's documented module hooks), for the start-up test.
import { register } from 'node:module';

register('./record-modules-hooks.mjs', import.meta.url);
