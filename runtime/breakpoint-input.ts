/**
 * What a breakpoint raised from outside the runtime must be about: `triggerBreakpoint`'s context
 * and `raiseFromFacts`' facts are JSON, name projects by valid ids, and name a task, if any, that
 * exists in that project (a breakpoint pauses it: one that does not exist, or another project's,
 * would hold nothing or the wrong work). Pure: the runtime's tasks come in through `taskInfo`.
 */
import { jsonProblems } from './json.js';
import { describe, idProblems, isPlainObject } from './validate.js';

/** A task's project, or null when there is no such task. */
export type TaskLookup = (taskId: string) => { projectId: string } | null;

/** Every problem of `triggerBreakpoint`'s `context` (its type is checked by the caller). */
export function contextProblems(context: unknown, taskInfo: TaskLookup): string[] {
  if (!isPlainObject(context)) return [`context: must be an object, got ${describe(context)}`];
  const problems = jsonProblems(context, 'context');
  if (context.projectId !== undefined) problems.push(...idProblems(context.projectId, 'context.projectId'));
  if (context.taskId !== undefined) problems.push(...idProblems(context.taskId, 'context.taskId'));
  if (typeof context.taskId === 'string') problems.push(...taskProblems(taskInfo, context.taskId, context.projectId, { task: 'context.taskId', project: 'context.projectId' }));
  return problems;
}

/** Every problem of `raiseFromFacts`' `facts`. */
export function factsProblems(facts: unknown, taskInfo: TaskLookup): string[] {
  if (!isPlainObject(facts)) return [`facts: must be an object, got ${describe(facts)}`];
  const problems = jsonProblems(facts, 'facts');
  const project = facts.project;
  if (!isPlainObject(project)) problems.push(`facts.project: must be an object with the project's id, got ${describe(project)}`);
  else problems.push(...idProblems(project.id, 'facts.project.id'));
  const task = facts.task;
  if (task === undefined || task === null) return problems;
  if (!isPlainObject(task)) problems.push(`facts.task: must be an object with the task's id, or null, got ${describe(task)}`);
  else if (typeof task.id !== 'string') problems.push(`facts.task.id: unknown task ${describe(task.id)}`);
  else problems.push(...taskProblems(taskInfo, task.id, isPlainObject(project) ? project.id : undefined, { task: 'facts.task.id', project: 'facts.task.id' }));
  return problems;
}

/** The task must exist, in the project named (when one is). */
function taskProblems(taskInfo: TaskLookup, taskId: string, projectId: unknown, paths: { task: string; project: string }): string[] {
  const task = taskInfo(taskId);
  if (!task) return [`${paths.task}: unknown task "${taskId}"`];
  if (typeof projectId === 'string' && projectId !== task.projectId) return [`${paths.project}: task "${taskId}" belongs to project "${task.projectId}", not "${projectId}"`];
  return [];
}
