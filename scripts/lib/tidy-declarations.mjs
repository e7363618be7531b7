// api-extractor's declaration roll-up re-emits each doc comment with a `@throws` (or any tag) whose text goes on
// over several lines one step further right, and every line after it too: the indentation creeps through the
// file (up to 66 spaces in redlock-core's, 80 kB of its 280). This puts it back: TypeScript's own formatter
// re-indents the code, and each doc comment's lines are lined up under its opening `/**`.
import { readFileSync, writeFileSync } from 'node:fs';
import ts from 'typescript';

/** Re-indents the declaration file `file` in place (4 spaces a level). */
export function tidyDeclarations(file) {
  const text = readFileSync(file, 'utf8');
  const name = 'rolled-up.d.ts';
  const service = ts.createLanguageService({
    getScriptFileNames: () => [name],
    getScriptVersion: () => '1',
    getScriptSnapshot: (fileName) => (fileName === name ? ts.ScriptSnapshot.fromString(text) : undefined),
    getCurrentDirectory: () => '/',
    getCompilationSettings: () => ({ noResolve: true, noLib: true }),
    getDefaultLibFileName: () => 'lib.d.ts',
    fileExists: (fileName) => fileName === name,
    readFile: () => undefined,
  });
  const settings = { ...ts.getDefaultFormatCodeSettings(), indentSize: 4, tabSize: 4, convertTabsToSpaces: true };
  // Applied from the end, so that each edit's offsets still hold.
  const edits = [...service.getFormattingEditsForDocument(name, settings)].sort((a, b) => b.span.start - a.span.start);
  let formatted = text;
  for (const { span, newText } of edits) formatted = formatted.slice(0, span.start) + newText + formatted.slice(span.start + span.length);
  writeFileSync(file, lineUpDocComments(formatted));
}

/** Puts each line of a block comment one space right of its opening `/*`. */
function lineUpDocComments(text) {
  let commentIndent;
  return text
    .split('\n')
    .map((line) => {
      const trimmed = line.trimStart();
      if (commentIndent === undefined) {
        if (trimmed.startsWith('/*') && !trimmed.includes('*/')) commentIndent = line.length - trimmed.length;
        return line;
      }
      if (trimmed.includes('*/')) {
        const indent = commentIndent;
        commentIndent = undefined;
        return `${' '.repeat(indent + 1)}${trimmed}`;
      }
      return trimmed === '' ? line : `${' '.repeat(commentIndent + 1)}${trimmed}`;
    })
    .join('\n');
}
