/** What the CLI commands share: where output goes, exit codes, and how errors are shown. */
import {
  BackendError,
  CancelledError,
  ConfigError,
  DistilleryError,
  FileFormatError,
  GraphValidationError,
  PluginError,
  PrecisionError,
  RegistryError,
  ScheduleError,
  UsageError,
} from '../errors';

export const EXIT_OK = 0;
/** The run (or another operation) failed. */
export const EXIT_FAILURE = 1;
/** Invalid input: a bad graph file, flag, `--set`, plugin, config or backend choice. */
export const EXIT_INVALID = 2;
/** Cancelled by SIGINT/SIGTERM (128 + 2, the shell convention). */
export const EXIT_CANCELLED = 130;

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** The stream progress bars and run logs are drawn on (default process.stderr). */
  progressStream: NodeJS.WritableStream;
  /** Install SIGINT/SIGTERM handlers during `run` (the bin does; in-process callers may not want to). */
  handleSignals: boolean;
}

export function processIO(): CliIO {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    progressStream: process.stderr,
    handleSignals: true,
  };
}

/** Exit code for an error that ended a command. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof CancelledError) return EXIT_CANCELLED;
  if (
    err instanceof UsageError || err instanceof GraphValidationError || err instanceof ConfigError || err instanceof PluginError
    || err instanceof RegistryError || err instanceof BackendError || err instanceof PrecisionError || err instanceof ScheduleError || err instanceof FileFormatError
  ) return EXIT_INVALID;
  return EXIT_FAILURE;
}

/** DistilleryErrors print their message (they are written for users); anything else prints its stack. */
export function describeError(err: unknown): string {
  if (err instanceof GraphValidationError) return err.message;
  if (err instanceof DistilleryError) return `error: ${err.message}`;
  if (err instanceof Error) return `unexpected error: ${err.stack ?? err.message}`;
  return `unexpected error: ${String(err)}`;
}

/** Commander option parser for repeatable flags (`--set a=1 --set b=2`). */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** A shell word, quoted only when it needs to be. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
