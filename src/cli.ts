#!/usr/bin/env node
// Entry point of the haos-rescue command (the package's bin).
import { main } from './cli/main.js';

await main();
