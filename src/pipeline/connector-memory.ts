// What connectors remember between deliveries (ctx.memory), held by the App: one memory per
// connector and destination, so Apps and tests in one process never share a field list or a
// token refresh through a module-level map.
import type { ConnectorMemory, InFlight, MemoryKey } from '../../connectors/types.js';

export interface ConnectorMemories {
  /** The memory connector `type` keeps of `destinationId` in this App (made on first use). */
  of(type: string, destinationId: string): ConnectorMemory;
  /** Drops it (a disconnected or deleted destination: refreshed tokens must not linger in memory). */
  forget(type: string, destinationId: string): void;
}

export function createConnectorMemories(): ConnectorMemories {
  const memories = new Map<string, ConnectorMemory>();
  return {
    of(type, destinationId) {
      const scope = `${type}\u0000${destinationId}`;
      let memory = memories.get(scope);
      if (!memory) {
        memory = createConnectorMemory();
        memories.set(scope, memory);
      }
      return memory;
    },
    forget(type, destinationId) {
      memories.delete(`${type}\u0000${destinationId}`);
    },
  };
}

/** One destination's memory, on its own (the App makes them through createConnectorMemories). */
export function createConnectorMemory(): ConnectorMemory {
  // biome-ignore lint/suspicious/noExplicitAny: each key carries its own value type; get/set keep them apart
  const values = new Map<MemoryKey<any>, unknown>();
  const memory: ConnectorMemory = {
    get: <T>(key: MemoryKey<T>) => values.get(key) as T | undefined,
    set(key, value) {
      values.set(key, value);
    },
    delete(key) {
      values.delete(key);
    },
    async shared<T>(key: MemoryKey<InFlight<T>>, work: () => Promise<T>, id = ''): Promise<T> {
      let inFlight = memory.get(key);
      const pending = inFlight?.get(id);
      if (pending) return pending;
      if (!inFlight) {
        inFlight = new Map();
        memory.set(key, inFlight);
      }
      const started = work();
      inFlight.set(id, started);
      try {
        return await started;
      } finally {
        if (inFlight.get(id) === started) inFlight.delete(id);
      }
    },
  };
  return memory;
}
