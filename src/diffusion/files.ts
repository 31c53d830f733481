/**
 * Schedules from files or inline JSON: either form (camelCase, or a diffusers `scheduler_config.json`
 * recognised by its snake_case keys).
 */
import * as fs from 'node:fs';
import JSON5 from 'json5';
import { FileFormatError } from '../errors';
import { locatePointer, parseSource } from '../graph/source';
import type { PointerLocator } from '../schema/problems';
import { isDiffusersStyleConfig, type ScheduleConfigSource } from './config';
import { NoiseSchedule } from './schedule';

/** A schedule from a config object of either form; `source.locate` puts file:line:col on its problems. */
export function noiseScheduleFromAnyConfig(config: Record<string, unknown>, source: ScheduleConfigSource = {}): NoiseSchedule {
  return isDiffusersStyleConfig(config) ? NoiseSchedule.fromDiffusersConfig(config, source) : NoiseSchedule.fromConfig(config, source);
}

function parseObject(text: string, source: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON5.parse(text);
  } catch (err) {
    throw new FileFormatError(source, `not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FileFormatError(source, 'a schedule config must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** The file's object and a locator mapping JSON pointers to its line:col (the graph files' JSON5 reader). */
function parseFile(text: string, file: string): { config: Record<string, unknown>; locate?: PointerLocator } {
  const config = parseObject(text, file);
  const { source } = parseSource(text, file);
  return { config, ...(source ? { locate: (pointer, part) => ({ position: locatePointer(source, pointer, part) }) } : {}) };
}

/** Reads a schedule config file (JSON or JSON5) of either form. */
export function readNoiseScheduleFile(file: string): NoiseSchedule {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new FileFormatError(file, `cannot read the schedule config: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const { config, locate } = parseFile(text, file);
  return noiseScheduleFromAnyConfig(config, { locate });
}

/** `{…}` is inline JSON; anything else is a file path. */
export function loadNoiseSchedule(fileOrJson: string): NoiseSchedule {
  const trimmed = fileOrJson.trim();
  if (trimmed.startsWith('{')) return noiseScheduleFromAnyConfig(parseObject(trimmed, '<inline config>'));
  return readNoiseScheduleFile(fileOrJson);
}
