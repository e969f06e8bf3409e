/** "actions": the admin requests on `<base>/bridge/request/<verb>` (bridge-actions.ts). */
import { registerActions, type ActionTargets } from '../../bridge-actions.ts';
import type { Extension } from '../extension.ts';

export class ActionsExtension implements Extension {
  readonly name = 'actions';
  private unregister: (() => void) | undefined;

  constructor(private readonly targets: ActionTargets) {}

  async start(): Promise<void> {
    this.unregister = registerActions(this.targets);
  }

  async stop(): Promise<void> {
    this.unregister?.();
    this.unregister = undefined;
  }
}
