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
export { backoffDelay, classifyFailure, shouldRetry, DEFAULT_RETRY_POLICY, INTERRUPTION_KINDS, INTERRUPTIONS_FORGIVEN, RATE_LIMITS_FORGIVEN } from './backoff.js';
export type { RetryPolicy, FailureInput, ClassifiedFailure } from './backoff.js';
export { effectivePriority, DEADLINE_BOOST_WINDOW_MS } from './priority.js';
export type { BoostReason, EffectivePriority, PriorityFacts } from './priority.js';
export { topologicalOrder, findCycle, findCycles } from './graph.js';
export { longTimers, MAX_TIMER_MS, systemClock } from './clock.js';
/** XState's simulated clock, re-exported so an embedding project needs no xstate import of its own: `createOverseer({ clock })`, then `clock.increment(ms)`. */
export { SimulatedClock } from 'xstate';
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
export { jsonFileStore, readStoreFile } from '../store/json-file.js';
export { restoreBackup } from '../store/backup.js';
export type { RestoreBackupOptions, RestoredBackup } from '../store/backup.js';
export type { JsonFileStoreOptions } from '../store/json-file.js';
export { StoreLockedError, StoreCorruptError, StoreVersionError } from '../store/errors.js';
export type { Store, SnapshotSource, StoreImage, StoreContents, StoreWarning, StoredTask, JournalRecord } from '../store/types.js';
export { SCHEMA_VERSION } from '../store/types.js';
export { Runner } from './runner.js';
export type { RunnerOptions, RunOutcome, AttemptDispatch } from './runner.js';
// The BullMQ dispatch mode; BullMQ itself is imported only when one of these connects.
export { BullmqDispatch, type BullmqDispatchOptions, type LateOutcome } from '../actors/bullmq-dispatch.js';
export { startBullmqWorker, type BullmqWorker, type BullmqWorkerOptions, type WorkerJobEvent } from '../actors/bullmq-worker.js';
export { ExecutionError } from '../actors/types.js';
export type { Executor, ExecutionContext, ShellSpec, AgentSpec } from '../actors/types.js';
export { shellExecutor } from '../actors/shell.js';
export { agentExecutor, renderPrompt } from '../actors/agent.js';
export { loadPlan, checkPlan, PlanError, parseDuration } from './plan.js';
export type { Plan, ExecutorSpec } from './plan.js';
export { storeStatus } from './status.js';
export type { StoreStatus } from './status.js';
export { createQualityController } from './quality/controller.js';
export type { QualityController, QualityControllerOptions } from './quality/controller.js';
export * as qualityStages from './quality/index.js';
export type { QualityResult, QualityRecord, QualityOutput, QualityTask, Issue, StageResult } from './quality/types.js';
export { createDecisionEngine, explainDecision, assessConfidence, evaluateResponseQuality, determineFollowUp, shouldTriggerBreakpoint } from './decision.js';
export type { Decision, DecisionAction, DecisionContext, DecisionEngine, DecisionState } from './decision.js';
export type { QualityConfig } from './judge.js';
export { WorkspaceMonitor } from './workspace.js';
export type { WorkspaceOptions } from './workspace.js';
export { watchWorkspace } from '../actors/watcher.js';
export { detectEvents, ChangeDetector } from './change-detector.js';
export type { RawChange, WorkspaceEvent, ChangeDetectorConfig } from './change-detector.js';
export { machineGraph, planGraph, describeMachine } from './graph-export.js';
export { compileExpression, evaluateExpression, ExpressionError } from './expression.js';
export { breakpointMachine } from '../machines/breakpoint.js';
export type { BreakpointStats, BreakpointView } from './breakpoint-view.js';
export type { RuleDefinition } from './breakpoint-rules.js';
export { DEFAULT_BREAKPOINT_TYPES } from './breakpoint-rules.js';
export type { BreakpointNotification, NotificationCallback } from './breakpoints.js';
export { BreakpointError } from './breakpoints.js';
export type { ChangedFile } from '../machines/task.js';
export { INSPECTED_MACHINES, taskActorId, breakpointActorId, SUPERVISOR_ACTOR_ID } from './inspection.js';
export type { InspectionRecord, InspectionListener, InspectedMachine, ActorRecord, EventRecord, SnapshotRecord, ActorState } from './inspection.js';
export { traceTo, readTrace, replayTrace, TraceError, TRACE_VERSION } from './trace.js';
export type { TraceHeader, TraceFile, ReplayResult as TraceReplayResult, TraceWriter } from './trace.js';
export { startInspector } from './inspector/server.js';
export type { InspectorOptions, InspectorServer } from './inspector/server.js';
export { liveSource, storeSource, replaySource } from './inspector/sources.js';
export type { InspectorSource } from './inspector/sources.js';
