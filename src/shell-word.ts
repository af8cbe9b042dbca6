// One argument as a POSIX shell reads it back: left bare when it holds only safe characters (paths,
// Windows device names such as \\.\PhysicalDrive2), else in single quotes. Used where an error's hint
// shows the exact command to type next.

export function shellWord(arg: string): string {
  return /^[\w@%+=:,./\\-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
