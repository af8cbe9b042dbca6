// Bundled in place of every `string-width` that yargs brings (its own, cliui's and wrap-ansi's): each copy
// builds an Intl.Segmenter and Unicode-property regular expressions as soon as it is loaded, ~25 ms of every
// start-up, though only help text and error messages measure strings. This one loads the real string-width
// (yargs's, the newest) the first time a string is measured. post-build.mjs points the imports here.

let real = null;

export default function stringWidth(text, options) {
  // A require() of an ES module makes esbuild run that module's body only when it is first required.
  real ??= require('string-width').default;
  return real(text, options);
}
