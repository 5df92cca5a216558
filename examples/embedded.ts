import { createOverseer, SimulatedClock } from '../runtime/index.js';

const clock = new SimulatedClock(); // omit for real time
const overseer = createOverseer({ clock });
overseer.on('task.transition', (e) => console.log(`${e.taskId}: ${e.from ?? '-'} → ${e.to}`));

overseer.scheduleTasks([
  { id: 'fetch', priority: 7 },
  { id: 'build', dependencies: ['fetch'], deadline: '2030-01-01T00:00:00Z' },
  { id: 'deploy', dependencies: ['build'], onDependencyFailure: 'cancel' },
]);

const fetch = overseer.getNextTask()!; // highest effective priority, now running
overseer.markFailed(fetch.id, 'network timeout'); // retrying: back to ready in 60 s
clock.increment(60_000);
overseer.markComplete(overseer.getNextTask()!.id, { bytes: 1024 });

console.log(overseer.getReadyTasks().map((t) => t.id)); // [ 'build' ]
console.log(overseer.getCounts());
