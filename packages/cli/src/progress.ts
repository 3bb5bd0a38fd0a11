import type { MachineAction } from './api-client.js';
import { safeText } from './output.js';

/** A one-line progress display on stderr, redrawn in place (only on a terminal; scripts get clean output). */
export function progressLine(enabled: boolean): { show(text: string): void; done(): void } {
  let shown = false;
  return {
    show(text) {
      if (!enabled) return;
      process.stderr.write(`\r\x1b[K${text}`);
      shown = true;
    },
    done() {
      if (shown) process.stderr.write('\n');
      shown = false;
    },
  };
}

export const bar = (fraction: number, width = 30): string => `[${'#'.repeat(Math.round(Math.min(1, Math.max(0, fraction)) * width)).padEnd(width, '.')}]`;

/**
 * Shows an action as it is followed: on a terminal one line redrawn in place (status, bar, percent
 * and the agent's message, cut to the terminal's width); otherwise a line per change; nothing for `--json`.
 */
export function actionProgress(json: boolean): { show(a: MachineAction): void; done(): void } {
  const tty = !json && process.stderr.isTTY === true;
  const line = progressLine(tty);
  return {
    show(a) {
      if (json) return;
      const p = a.progress;
      const said = p ? ` ${p.percent.toFixed(0)}% ${safeText(p.message ?? '')}`.trimEnd() : '';
      if (tty) line.show(`${a.status}${p ? ` ${bar(p.percent / 100)}` : ''}${said}`.slice(0, (process.stderr.columns || 120) - 1));
      else process.stderr.write(`${a.status}${said}\n`);
    },
    done: () => line.done(),
  };
}
