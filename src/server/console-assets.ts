// The web console's files: src/console compiled by esbuild (console-build.ts). Run from the
// sources, they are compiled on first use, in memory (esbuild and preact are devDependencies, in
// every checkout after `npm ci`). In a bundle (dist/, the single executables) this whole module is
// replaced at build time by scripts/console-assets.ts with the compiled files as text, so a
// binary serves the console with nothing beside it and never loads esbuild.

/** One file the console serves. */
export interface ConsoleFile {
  /** Its URL path: `/` for the page, `/assets/NAME` for the rest. */
  path: string;
  contentType: string;
  body: string;
  /** Named by a hash of its content: browsers may cache it for good. */
  immutable: boolean;
}

export async function loadConsoleFiles(): Promise<ConsoleFile[]> {
  const { buildConsole } = await import('./console-build.ts');
  return buildConsole();
}
