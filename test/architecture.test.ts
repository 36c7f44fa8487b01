import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

/**
 * The shape docs/architecture.md draws, checked on the source itself: no import circles (type imports
 * included), and the arrows between the top folders point one way only.
 */

const SRC = path.resolve('src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return full.endsWith('.ts') ? [full] : [];
  });
}

/** Each file's relative imports (and re-exports), resolved to files. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    const targets: string[] = [];
    for (const match of text.matchAll(/^\s*(?:import|export)\s[^'";]*?from\s+['"](\.[^'"]+)['"]/gms)) {
      const base = path.resolve(path.dirname(file), match[1] as string).replace(/\.js$/, '');
      const target = [`${base}.ts`, path.join(base, 'index.ts')].find((candidate) => existsSync(candidate));
      if (target) targets.push(target);
    }
    graph.set(file, targets);
  }
  return graph;
}

/** The import circles: strongly connected groups of two or more files (Tarjan, without recursion limits). */
function circles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (file: string) => {
    index.set(file, counter);
    low.set(file, counter);
    counter += 1;
    stack.push(file);
    onStack.add(file);
    for (const next of graph.get(file) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(file, Math.min(low.get(file) as number, low.get(next) as number));
      } else if (onStack.has(next)) {
        low.set(file, Math.min(low.get(file) as number, index.get(next) as number));
      }
    }
    if (low.get(file) === index.get(file)) {
      const group: string[] = [];
      let member: string;
      do {
        member = stack.pop() as string;
        onStack.delete(member);
        group.push(path.relative(SRC, member));
      } while (member !== file);
      if (group.length > 1) found.push(group.sort());
    }
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return found;
}

const folderOf = (file: string) => path.relative(SRC, file).split(path.sep)[0] as string;

describe('source layout', () => {
  const graph = importGraph();

  it('has no import circles, type imports included', () => {
    assert.deepEqual(circles(graph), []);
  });

  // Who may not import whom: the arrows of docs/architecture.md that point one way only.
  const forbidden: [string, string[]][] = [
    ['schemas', ['services', 'routes', 'plugins', 'cli']],
    ['net', ['services', 'providers', 'routes', 'plugins', 'cli', 'db']],
    ['providers', ['services', 'routes', 'plugins', 'cli', 'db']],
    ['services', ['routes', 'plugins', 'cli']],
    ['db', ['services', 'routes', 'plugins', 'cli', 'providers']],
  ];
  for (const [from, targets] of forbidden) {
    it(`${from}/ imports nothing from ${targets.join(', ')}`, () => {
      const crossings = [...graph]
        .filter(([file]) => folderOf(file) === from)
        .flatMap(([file, imports]) =>
          imports.filter((target) => targets.includes(folderOf(target))).map((target) => `${path.relative(SRC, file)} -> ${path.relative(SRC, target)}`),
        );
      assert.deepEqual(crossings, []);
    });
  }
});
