/**
 * The numbers an evaluation produces: one cell per (model, step count), and the run-level facts a
 * report states next to them. Written as `metrics.json`; the HTML report and the console summary are
 * rendered from exactly this object.
 */

export interface EvaluationCell {
  /** Series name, e.g. `teacher (guided, g=3)` or `student`. */
  series: string;
  /** Which model produced the samples (node id or a short name). */
  model: string;
  /** Side of the report's comparison (absent: a series or model name starting with "teacher" is the teacher). */
  role?: 'teacher' | 'student';
  steps: number;
  /** Guidance scale used while sampling (1 = none: the distilled students have it built in). */
  guidanceScale: number;
  /** Fréchet distance in the classifier's feature space against held-out real images. */
  fid: number;
  /** Fraction of samples the classifier assigns to the requested class. */
  accuracy: number;
  samples: number;
  /** PNG grid file, relative to the run folder (rows = classes). */
  grid?: string;
  /** Wall time to draw and score the samples, seconds. */
  seconds?: number;
}

/** What a guidance sweep chose, and by which rule. */
export interface GuidanceChoice {
  guidanceScale: number;
  /** The teacher step count the choice was made at. */
  steps: number;
  fid: number;
  accuracy: number;
  /** The held-out part it was made on. */
  split: 'test' | 'validation';
  rule: string;
}

export interface EvaluationMetrics {
  title: string;
  createdAt: string;
  backend?: string;
  seed?: number;
  /** The held-out part the FIDs are measured against: "test" (reported numbers) or "validation" (choices). */
  split?: 'test' | 'validation';
  /** Real images in that part. */
  referenceSize?: number;
  /** Reference FID of held-out real images against a second held-out half (the floor of the metric). */
  realFid?: number;
  realAccuracy?: number;
  cells: EvaluationCell[];
  /** A guidance sweep's choice (evaluate with guidanceSweep). */
  choice?: GuidanceChoice;
  /** Free-form facts (wall times per stage, iteration counts). */
  notes?: Record<string, string | number>;
}

/** Cells of one series, sorted by step count. */
export function seriesCells(m: EvaluationMetrics, series: string): EvaluationCell[] {
  return m.cells.filter((c) => c.series === series).sort((a, b) => a.steps - b.steps);
}

/** Series names in first-appearance order. */
export function seriesNames(m: EvaluationMetrics): string[] {
  return [...new Set(m.cells.map((c) => c.series))];
}
