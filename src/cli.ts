#!/usr/bin/env node
// Entry point of the haos-rescue command (the package's bin).
import { main } from './cli/main.js';

// Named so in process lists (and to the in-use check of another haos-rescue writing: actions/write/preconditions.ts).
process.title = 'haos-rescue';

await main();
