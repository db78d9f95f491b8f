/**
 * Coverage instrumentation for the fuzzer: the JavaScript that tsc emitted for src/ gets a counter
 * increment on every branch, the way Jazzer.js (Babel) and istanbul instrument code, so the fuzzer can
 * tell which inputs reach new code and how often each branch ran.
 *
 * Counted: every function body, both arms of `if` (an implicit `else` included), every `case`, loop
 * bodies, `catch` blocks, both arms of `?:` and the right operand of `&&`, `||` and `??` (their
 * assignment forms too). Counters live in one global Uint32Array, `__conduitFuzzCov`, each module
 * owning the range from `base`; the module announces its end through `__conduitFuzzMark` and hands its
 * string literals to `__conduitFuzzDict` (an automatic dictionary, as AFL builds one).
 *
 * The edit is textual, at positions the TypeScript parser gives, so the emitted code keeps its shape:
 * `{hit;` after an opening brace, `{hit; stmt}` around an unbraced arm, `(hit, expr)` around an
 * expression. Insertions at one position nest by construction: openings are numbered before the
 * children are visited, closings after.
 */
import ts from 'typescript';

export interface Instrumented {
  readonly code: string;
  /** Counters used, from `base`. */
  readonly counters: number;
  readonly strings: readonly string[];
}

interface Insertion {
  readonly pos: number;
  readonly seq: number;
  readonly text: string;
}

const COUNTERS = '__conduitFuzzCov';

export function instrument(source: string, base: number, fileName = 'module.js'): Instrumented {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const insertions: Insertion[] = [];
  const strings = new Set<string>();
  let seq = 0;
  let counters = 0;

  const hit = (): string => `${COUNTERS}[${base + counters++}]++`;
  const at = (pos: number, text: string): void => {
    insertions.push({ pos, seq: seq++, text });
  };
  const start = (node: ts.Node): number => node.getStart(sf);

  /** Count entering a statement; returns what closes it (to run after its children). */
  const armStatement = (stmt: ts.Statement): (() => void) | null => {
    if (ts.isBlock(stmt)) {
      at(start(stmt) + 1, `${hit()};`);
      return null;
    }
    at(start(stmt), `{${hit()};`);
    return () => at(stmt.end, '}');
  };

  /** Count evaluating an expression; returns what closes it. */
  const armExpression = (expr: ts.Expression): (() => void) => {
    at(start(expr), `(${hit()}, `);
    return () => at(expr.end, ')');
  };

  const visit = (node: ts.Node): void => {
    const closers: Array<() => void> = [];
    const push = (closer: (() => void) | null): void => {
      if (closer !== null) closers.push(closer);
    };

    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const body = node.body as ts.Node;
      if (ts.isBlock(body)) at(start(body) + 1, `${hit()};`);
      else if (ts.isArrowFunction(node)) push(armExpression(body as ts.Expression));
    } else if (ts.isIfStatement(node)) {
      push(armStatement(node.thenStatement));
      const otherwise = node.elseStatement;
      if (otherwise === undefined) {
        const then = node.thenStatement;
        closers.push(() => at(then.end, ` else{${hit()};}`));
      } else if (!ts.isIfStatement(otherwise)) {
        push(armStatement(otherwise));
      }
    } else if (ts.isConditionalExpression(node)) {
      push(armExpression(node.whenTrue));
      push(armExpression(node.whenFalse));
    } else if (ts.isBinaryExpression(node)) {
      const op = node.operatorToken.kind;
      if (
        op === ts.SyntaxKind.AmpersandAmpersandToken ||
        op === ts.SyntaxKind.BarBarToken ||
        op === ts.SyntaxKind.QuestionQuestionToken ||
        op === ts.SyntaxKind.AmpersandAmpersandEqualsToken ||
        op === ts.SyntaxKind.BarBarEqualsToken ||
        op === ts.SyntaxKind.QuestionQuestionEqualsToken
      ) {
        push(armExpression(node.right));
      }
    } else if (
      ts.isForStatement(node) ||
      ts.isForOfStatement(node) ||
      ts.isForInStatement(node) ||
      ts.isWhileStatement(node) ||
      ts.isDoStatement(node)
    ) {
      push(armStatement(node.statement));
    } else if (ts.isCaseClause(node) || ts.isDefaultClause(node)) {
      at(node.statements.pos, `${hit()};`);
    } else if (ts.isCatchClause(node)) {
      at(start(node.block) + 1, `${hit()};`);
    } else if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
      const parent = node.parent;
      const isModulePath =
        parent !== undefined &&
        (ts.isImportDeclaration(parent) ||
          ts.isExportDeclaration(parent) ||
          (ts.isCallExpression(parent) && parent.expression.kind === ts.SyntaxKind.ImportKeyword));
      if (!isModulePath && node.text.length >= 2 && node.text.length <= 64) strings.add(node.text);
    }

    ts.forEachChild(node, visit);
    for (const close of closers) close();
  };
  visit(sf);

  // At one position, the lower sequence number goes first.
  insertions.sort((a, b) => a.pos - b.pos || a.seq - b.seq);
  const parts: string[] = [];
  let last = 0;
  for (const { pos, text } of insertions) {
    parts.push(source.slice(last, pos), text);
    last = pos;
  }
  parts.push(source.slice(last));
  let code = parts.join('');

  const prelude =
    `globalThis.__conduitFuzzMark?.(${base + counters});` +
    (strings.size > 0 ? `globalThis.__conduitFuzzDict?.push(...${JSON.stringify([...strings])});` : '');
  // After a hashbang line, if any; imports are hoisted, so the prelude may precede them.
  const bodyStart = code.startsWith('#!') ? code.indexOf('\n') + 1 : 0;
  code = `${code.slice(0, bodyStart)}${prelude}\n${code.slice(bodyStart)}`;
  return { code, counters, strings: [...strings] };
}
