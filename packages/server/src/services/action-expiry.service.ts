import type { Clock } from '../clock.js';
import type { ActionsRepository } from '../repositories/actions.repository.js';
import type { ActionLifecycle } from './action-lifecycle.js';

/** Actions that outlive their expiry end as TimeOut: at start, and on a timer. */
export class ActionExpiryService {
  constructor(
    private readonly repo: ActionsRepository,
    private readonly life: ActionLifecycle,
    private readonly now: Clock,
  ) {}

  /** Ends every action whose expiry passed (TimeOut); run at start and on a timer. */
  async sweepExpired(): Promise<number> {
    const now = this.now().toISOString();
    let n = 0;
    for (;;) {
      const batch = await this.repo.expired(now);
      if (batch.length === 0) return n;
      for (const row of batch) if (await this.life.timeOut(row, now)) n++;
    }
  }
}
