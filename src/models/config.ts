/**
 * Model configs: JSON Schema first (every error, defaults filled, unknown keys refused), then the
 * model's cross-field checks; both report Problems through one ConfigError. The checking itself is the
 * shared one of src/schema/check.ts.
 */
export { applySchema, throwIfProblems } from '../schema/check';

/**
 * `true` when A and B are assignable both ways and have the same keys (optional ones included). Used as `true satisfies SameShape<A, B>` to fail the build
 * when a model's config input and its on-disk form (src/io/ldm-model-params.ts) drift apart.
 */
export type SameShape<A, B> = [A, keyof A] extends [B, keyof B] ? ([B, keyof B] extends [A, keyof A] ? true : false) : false;
