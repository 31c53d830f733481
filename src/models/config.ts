/**
 * Model configs: JSON Schema first (every error, defaults filled, unknown keys refused), then the
 * model's cross-field checks; both report Problems through one ConfigError. The checking itself is the
 * shared one of src/schema/check.ts.
 */
export { applySchema, throwIfProblems } from '../schema/check';
