#!/usr/bin/env node
/**
 * The `overseer` command line.
 * Exit codes: 0 success, 2 bad input (unknown command or option).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LEGAL_TRANSITIONS, TASK_STATES } from '../machines/task.js';

const HELP = `Usage: overseer <command> [options]

Supervise autonomous work (agents, shell jobs, pipelines) as XState actors.

Commands:
  states [--json]   the task lifecycle: every state and the states it may move to

Options:
  -h, --help        show this help
  -v, --version     print the version

Exit codes: 0 success, 2 bad input.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function main(argv: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        json: { type: 'boolean' },
      },
    });
  } catch (error) {
    process.stderr.write(`overseer: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const [command] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(HELP);
    return command === undefined && !values.help ? 2 : 0;
  }
  if (command === 'states') {
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ states: TASK_STATES, transitions: LEGAL_TRANSITIONS })}\n`);
    } else {
      for (const state of TASK_STATES) {
        const to = LEGAL_TRANSITIONS[state];
        process.stdout.write(`${state.padEnd(10)} → ${to.length ? to.join(', ') : '(final)'}\n`);
      }
    }
    return 0;
  }
  process.stderr.write(`overseer: unknown command "${command}"\n\n${HELP}`);
  return 2;
}

process.exitCode = main(process.argv.slice(2));
