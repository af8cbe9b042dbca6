// The tool's version, shown by --version and written into the maps `image` keeps.
export const VERSION = '0.1.0';
