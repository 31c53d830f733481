#!/usr/bin/env node
/**
 * The `distillery` command line. `main(args)` runs one command in-process and returns its exit code;
 * the bin entry (this file run by node) calls it with process.argv and sets process.exitCode.
 *
 * Exit codes: 0 ok, 1 runtime failure (or stale schema with --check), 2 invalid input or usage,
 * 130 cancelled by SIGINT/SIGTERM.
 */
import { Command, CommanderError } from 'commander';
import { distilleryVersion } from '../runtime/run-folder';
import { registerEncodeCommand } from './commands/encode';
import { registerGraphCommand } from './commands/graph';
import { registerImportCommand } from './commands/import';
import { registerNodesCommand } from './commands/nodes';
import { registerRunCommand } from './commands/run';
import { registerScheduleCommand } from './commands/schedule';
import { registerSchemaCommand } from './commands/schema';
import { registerValidateCommand } from './commands/validate';
import { describeError, EXIT_INVALID, EXIT_OK, exitCodeFor, processIO, type CliIO } from './io';

export { EXIT_OK, EXIT_FAILURE, EXIT_INVALID, EXIT_CANCELLED, type CliIO } from './io';

/** The commander program with every command; `setExit` receives each command's exit code. */
export function buildProgram(io: CliIO, setExit: (code: number) => void): Command {
  const program = new Command('distillery')
    .description('Distill diffusion models into fewer sampling steps: run and inspect JSON5 pipeline graphs.')
    .version(distilleryVersion(), '-V, --version')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (t) => io.out(t), writeErr: (t) => io.err(t) });
  registerValidateCommand(program, io, setExit);
  registerRunCommand(program, io, setExit);
  registerNodesCommand(program, io, setExit);
  registerGraphCommand(program, io, setExit);
  registerSchemaCommand(program, io, setExit);
  registerScheduleCommand(program, (t) => io.out(t));
  registerImportCommand(program, io, setExit);
  registerEncodeCommand(program, io, setExit);
  for (const command of program.commands) command.exitOverride().configureOutput({ writeOut: (t) => io.out(t), writeErr: (t) => io.err(t) });
  return program;
}

/** Runs the command line `args` (without `node` and the script) and resolves to the exit code. */
export async function main(args: string[], io: CliIO = processIO()): Promise<number> {
  let code = EXIT_OK;
  const program = buildProgram(io, (c) => (code = c));
  if (args.length === 0) {
    io.err(program.helpInformation());
    return EXIT_INVALID;
  }
  try {
    await program.parseAsync(args, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are successes; every other commander error is a usage error (already printed).
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? EXIT_OK : EXIT_INVALID;
    }
    io.err(describeError(err) + '\n');
    return exitCodeFor(err);
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
