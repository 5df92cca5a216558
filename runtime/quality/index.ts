/** The quality controller's public surface: the controller, the built-in stages, and the pure scoring functions. */
export { createQualityController, defaultValidators, DEFAULT_MAX_HISTORY } from './controller.js';
export type { QualityController, QualityControllerOptions, ValidateContext } from './controller.js';
export { syntaxValidator, SYNTAX_WEIGHT, SYNTAX_EXTENSIONS } from './syntax.js';
export { requirementsValidator, REQUIREMENTS_WEIGHT, KEYWORD_THRESHOLD } from './requirements.js';
export { qualityValidator, QUALITY_WEIGHT, DEFAULT_MAX_LINES_ADDED, PENALTIES } from './heuristics.js';
export { testingValidator, parseTestOutput, TESTING_WEIGHT, DEFAULT_TEST_TIMEOUT_MS } from './testing.js';
export { llmValidator, LLM_WEIGHT, DEFAULT_LLM_TIMEOUT_MS } from './llm.js';
export type { LlmValidatorOptions } from './llm.js';
export { calculateQualityScore, enforceQualityGate, checkRegression, suggestImprovements, CONFLICT_THRESHOLD, DEFAULT_REGRESSION_TOLERANCE } from './score.js';
export { TREND_THRESHOLD, DEFAULT_PASS_SCORE } from './report.js';
export type * from './types.js';
