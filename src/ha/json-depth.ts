// How deep a parsed JSON value nests, counted without recursion. JSON.parse accepts any depth, but
// JSON.stringify and every recursive walk of the value overflow the stack on a crafted file nested 100,000
// deep (a backup.json, the Supervisor's homeassistant.json). Home Assistant's own reader, orjson, refuses
// more than 1024 levels (store-json.ts keeps the same limit): values deeper than that are refused here too.

export const MAX_JSON_DEPTH = 1024;

/** True when `value` has containers nested more than `max` levels deep. */
export function nestsDeeperThan(value: unknown, max = MAX_JSON_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}
