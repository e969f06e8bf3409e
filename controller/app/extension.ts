/**
 * A part of the application (zigbee2mqtt's lib/extension/extension.ts): its constructor only
 * stores what it is given; start() and stop() are symmetric — stop() undoes exactly what start()
 * did, listeners included, and is safe to call after a start() that failed halfway.
 */
export interface Extension {
  /** Names the part in logs, errors and bus listeners. */
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}
