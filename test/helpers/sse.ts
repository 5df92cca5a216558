/** Reads a server-sent event stream and waits for events with deadlines (no sleeps). */
export interface SseEvent {
  event: string;
  data: unknown;
}

export function openSse(url: string): { next(match: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>; close(): void; seen: SseEvent[] } {
  const controller = new AbortController();
  const seen: SseEvent[] = [];
  const waiters = new Set<() => void>();
  let failure: Error | null = null;
  void (async () => {
    try {
      const res = await fetch(url, { signal: controller.signal });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          let data = '';
          for (const line of frame.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data) seen.push({ event, data: JSON.parse(data) as unknown });
          for (const w of waiters) w();
        }
      }
    } catch (error) {
      if (!controller.signal.aborted) failure = error as Error;
      for (const w of waiters) w();
    }
  })();
  return {
    seen,
    next(match, timeoutMs = 5_000) {
      return new Promise((resolve, reject) => {
        let from = 0;
        const check = () => {
          for (; from < seen.length; from++) {
            if (match(seen[from]!)) {
              cleanup();
              return resolve(seen[from]!);
            }
          }
          if (failure) {
            cleanup();
            reject(failure);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no matching event within ${timeoutMs} ms; saw ${seen.map((e) => e.event).join(', ')}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close: () => controller.abort(),
  };
}
