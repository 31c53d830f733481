/**
 * Checking of the small option objects of the training layer: every problem is collected and
 * reported at once in one ConfigError; unknown keys are errors.
 */
import { ConfigError, type Problem } from '../errors';

export interface NumberRule {
  /** Lower bound; `exclusiveMin` makes it strict. */
  min?: number;
  exclusiveMin?: boolean;
  /** Upper bound; `exclusiveMax` makes it strict. */
  max?: number;
  exclusiveMax?: boolean;
  integer?: boolean;
  required?: boolean;
}

export class OptionChecker {
  readonly problems: Problem[] = [];
  constructor(private readonly what: string, private readonly value: unknown, private readonly known: readonly string[]) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.problems.push({ path: '', message: `${what} must be an object`, found: JSON.stringify(value) });
      return;
    }
    for (const key of Object.keys(value)) {
      if (!known.includes(key)) {
        this.problems.push({ path: key, message: 'unknown key', hint: `known keys: ${known.join(', ')}` });
      }
    }
  }

  private get obj(): Record<string, unknown> {
    return (this.value !== null && typeof this.value === 'object' ? this.value : {}) as Record<string, unknown>;
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined;
  }

  number(key: string, rule: NumberRule, fallback?: number): number {
    const v = this.obj[key];
    if (v === undefined) {
      if (rule.required || fallback === undefined) {
        if (rule.required) this.problems.push({ path: key, message: 'is required' });
        return NaN;
      }
      return fallback;
    }
    const range = [
      rule.min !== undefined ? `${rule.exclusiveMin ? '>' : '≥'} ${rule.min}` : '',
      rule.max !== undefined ? `${rule.exclusiveMax ? '<' : '≤'} ${rule.max}` : '',
    ].filter(Boolean).join(' and ');
    const expected = `${rule.integer ? 'an integer' : 'a finite number'}${range ? ' ' + range : ''}`;
    const bad = typeof v !== 'number' || !Number.isFinite(v) || (rule.integer && !Number.isInteger(v)) ||
      (rule.min !== undefined && (rule.exclusiveMin ? v <= rule.min : v < rule.min)) ||
      (rule.max !== undefined && (rule.exclusiveMax ? v >= rule.max : v > rule.max));
    if (bad) {
      this.problems.push({ path: key, message: 'out of range or of the wrong type', expected, found: JSON.stringify(v) });
      return NaN;
    }
    return v as number;
  }

  boolean(key: string, fallback: boolean): boolean {
    const v = this.obj[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') {
      this.problems.push({ path: key, message: 'must be a boolean', expected: 'true | false', found: JSON.stringify(v) });
      return fallback;
    }
    return v;
  }

  oneOf<T extends string>(key: string, values: readonly T[], fallback?: T): T {
    const v = this.obj[key];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || !values.includes(v as T)) {
      this.problems.push({ path: key, message: v === undefined ? 'is required' : 'unknown value',
        expected: values.map((x) => JSON.stringify(x)).join(' | '), found: v === undefined ? undefined : JSON.stringify(v) });
      return values[0];
    }
    return v as T;
  }

  add(problem: Problem): void {
    this.problems.push(problem);
  }

  /** Throws one ConfigError listing every problem, if there are any. */
  done(): void {
    if (this.problems.length) throw new ConfigError(this.what, this.problems);
  }
}
