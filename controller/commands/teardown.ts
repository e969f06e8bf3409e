/**
 * What a long-running command started, stopped in reverse order: when it ends normally, and when
 * a later step of its start fails (a port in use, a device refused). Without it a failed start
 * left the mesh, timers and links of the earlier steps running, and the process never exited —
 * under systemd a unit that never exits is never restarted.
 */
export class Teardown {
  private readonly steps: { name: string; stop: () => unknown }[] = [];

  /** Registers `stop` for something just started (or about to start: it must tolerate a half start). */
  add(name: string, stop: () => unknown): void {
    this.steps.push({ name, stop });
  }

  /** Stops everything registered, last first; a step that fails is reported and the rest still run. */
  async run(report: (message: string) => void = (m) => console.error(m)): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step.stop();
      } catch (e) {
        report(`canopy: stopping ${step.name} failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
}
