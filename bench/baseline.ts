/**
 * The limit: a plain in-memory heap scheduler with dependency counting and nothing
 * else (no state machine, no validation, no history). What Overseer costs is measured
 * against this.
 */
import { IndexedHeap } from '../runtime/heap.js';
import type { W1Task } from './workload.js';

interface Node {
  id: string;
  projectId: string;
  priority: number;
  seq: number;
  unmet: number;
  dependents: Node[];
  done: boolean;
  heapIndex: number;
}

export class PlainScheduler {
  private readonly nodes = new Map<string, Node>();
  private readonly queues = new Map<string, IndexedHeap<Node>>();
  private seq = 0;

  add(task: W1Task): void {
    const node: Node = { id: task.id, projectId: task.projectId, priority: task.priority, seq: this.seq++, unmet: 0, dependents: [], done: false, heapIndex: -1 };
    this.nodes.set(task.id, node);
    for (const dep of task.dependencies) {
      const d = this.nodes.get(dep)!;
      d.dependents.push(node);
      if (!d.done) node.unmet++;
    }
    if (node.unmet === 0) this.queue(node.projectId).push(node);
  }

  next(): string | null {
    let best: Node | undefined;
    for (const q of this.queues.values()) {
      const top = q.peek();
      if (top && (!best || top.priority > best.priority || (top.priority === best.priority && top.seq < best.seq))) best = top;
    }
    if (!best) return null;
    this.queues.get(best.projectId)!.pop();
    return best.id;
  }

  complete(id: string): void {
    const node = this.nodes.get(id)!;
    node.done = true;
    for (const d of node.dependents) if (--d.unmet === 0) this.queue(d.projectId).push(d);
  }

  private queue(projectId: string): IndexedHeap<Node> {
    let q = this.queues.get(projectId);
    if (!q) this.queues.set(projectId, (q = new IndexedHeap((a, b) => a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq))));
    return q;
  }
}
