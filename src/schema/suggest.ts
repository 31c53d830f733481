/**
 * "Did you mean …?": the one edit distance and closest-name rule of the project. Unknown node types,
 * node ids, config keys (graph files, schedule configs, training options, LDM YAML, checkpoint state)
 * and enum values are all suggested through here.
 */

/**
 * Edit distance with insert, delete, substitute and swap of two neighbouring characters, each costing 1
 * (optimal string alignment): `modle` → `model` and `betaStrat` → `betaStart` are one typo each.
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (!a.length) return b.length;
  if (!b.length) return a.length;
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) cur[j] = Math.min(cur[j], before[j - 2] + 1);
    }
    before = prev;
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The candidate closest to `word`, or undefined when none is close enough to be a plausible typo:
 * the distance must be at most a third of the longer name (at least 1, at most 3). Differences of case
 * and of `_` / `-` separators alone always match (`numTrainTimesteps` for `num_train_timesteps`). Ties
 * go to the candidate listed first.
 */
export function closestMatch(word: string, candidates: Iterable<string>): string | undefined {
  const bare = (s: string): string => s.replace(/[_-]/g, '').toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    if (candidate.toLowerCase() === word.toLowerCase()) return candidate;
    if (bare(candidate) === bare(word)) {
      if (bestDistance > 0) {
        best = candidate;
        bestDistance = 0;
      }
      continue;
    }
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    const limit = Math.min(3, Math.max(1, Math.floor(Math.max(word.length, candidate.length) / 3)));
    if (d <= limit && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * `did you mean "x"?` when a close match exists, else a list of what is available: the first `limit`
 * (default 12; long lists such as node types are cut, a schema's properties are listed whole).
 */
export function suggestionHint(word: string, candidates: string[], what: string, limit = 12): string {
  const match = closestMatch(word, candidates);
  if (match !== undefined) return `did you mean "${match}"?`;
  if (candidates.length === 0) return `there are no ${what}`;
  const shown = candidates.slice(0, limit).map((c) => `"${c}"`).join(', ');
  return `${what}: ${shown}${candidates.length > limit ? `, … (${candidates.length} in all)` : ''}`;
}
