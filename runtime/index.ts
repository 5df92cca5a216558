/**
 * Overseer's public API: everything an embedding service needs, from one entry point.
 */
export { createOverseer, Overseer } from './overseer.js';
export type { OverseerOptions, StateCounts } from './overseer.js';
export type { TaskSpec } from './validate.js';
export type { TaskView } from './view.js';
export type { PriorityChange } from './scheduler.js';
export type { DeadlockReport, StuckTask } from './deadlock.js';
export type {
  OverseerEvent,
  OverseerEventMap,
  OverseerEventType,
  TaskTransitionEvent,
  TaskPriorityEvent,
  TaskDeadlineMissedEvent,
  DeadlockDetectedEvent,
} from './events.js';
export {
  OverseerError,
  ValidationError,
  TaskStateError,
  UnknownTaskError,
  DependencyCycleError,
  ClosedError,
} from './errors.js';
export { backoffDelay, classifyFailure, shouldRetry, DEFAULT_RETRY_POLICY } from './backoff.js';
export type { RetryPolicy, FailureInput, ClassifiedFailure } from './backoff.js';
export { effectivePriority, DEADLINE_BOOST_WINDOW_MS } from './priority.js';
export type { BoostReason, EffectivePriority, PriorityFacts } from './priority.js';
export { topologicalOrder, findCycle } from './graph.js';
export { systemClock } from './clock.js';
export type { Clock } from './clock.js';
export type { JsonValue } from './json.js';
export { taskMachine, TASK_STATES, LEGAL_TRANSITIONS, TASK_EVENT_TYPES } from '../machines/task.js';
export type {
  TaskState,
  TaskContext,
  TaskEvent,
  TaskError,
  BlockedReason,
  TransitionRecord,
  DependencyFailurePolicy,
} from '../machines/task.js';
export { supervisorMachine } from '../machines/supervisor.js';
export type { SupervisorContext, SupervisorEvent } from '../machines/supervisor.js';
export type { RecoveryReport } from './overseer.js';
export { memoryStore } from '../store/memory.js';
export { jsonFileStore, restoreBackup, readStoreFile } from '../store/json-file.js';
export type { JsonFileStoreOptions } from '../store/json-file.js';
export { StoreLockedError, StoreCorruptError, StoreVersionError } from '../store/errors.js';
export type { Store, StoreImage, StoreContents, StoreWarning, StoredTask, JournalRecord } from '../store/types.js';
export { SCHEMA_VERSION } from '../store/types.js';
export { Runner } from './runner.js';
export type { RunnerOptions, RunOutcome } from './runner.js';
export { ExecutionError } from '../actors/types.js';
export type { Executor, ExecutionContext, ShellSpec, AgentSpec } from '../actors/types.js';
export { shellExecutor } from '../actors/shell.js';
export { agentExecutor, renderPrompt } from '../actors/agent.js';
export { loadPlan, checkPlan, PlanError, parseDuration } from './plan.js';
export type { Plan, ExecutorSpec } from './plan.js';
export { storeStatus } from './status.js';
export type { StoreStatus } from './status.js';
