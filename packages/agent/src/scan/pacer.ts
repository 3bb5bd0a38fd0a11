/** How often a paced scan measures its CPU use, at most (ms). */
const CHECK_MS = 5;

/**
 * Keeps a scan's CPU use at or under a share of the machine: before each piece of work it compares
 * the CPU time used since the scan began with what the cap allows for the time elapsed, and waits
 * out the difference. The average over the run holds; a single large file may run over for as
 * long as it takes.
 */
export class CpuPacer {
  readonly #startCpu: number;
  readonly #startWall: number;
  #nextCheck = 0;

  /**
   * @param cap share of the whole machine, 0 < cap <= 1 (0.5: half of every core)
   * @param cpuMicros CPU time used so far by the work being paced (this process and its finished children)
   */
  constructor(
    readonly cap: number,
    private readonly cores: number,
    private readonly cpuMicros: () => number,
    private readonly nowMs: () => number = () => performance.now(),
  ) {
    this.#startCpu = cpuMicros();
    this.#startWall = nowMs();
  }

  /** Milliseconds to wait now to be back under the cap (0 when under it). */
  delayMs(): number {
    if (this.cap >= 1) return 0;
    const usedMs = (this.cpuMicros() - this.#startCpu) / 1000;
    const allowedAfterMs = usedMs / (this.cap * this.cores);
    return Math.max(0, allowedAfterMs - (this.nowMs() - this.#startWall));
  }

  /** The share of the machine used since the start (0..1). */
  used(): number {
    const wall = this.nowMs() - this.#startWall;
    return wall <= 0 ? 0 : (this.cpuMicros() - this.#startCpu) / 1000 / wall / this.cores;
  }

  /**
   * Waits until under the cap, in steps of at most 250 ms so a cancel is heard. Measures at most
   * every CHECK_MS (reading the CPU time costs more than a small file's turn on the main thread).
   */
  async pace(signal: AbortSignal): Promise<void> {
    if (this.nowMs() < this.#nextCheck) return;
    for (let d = this.delayMs(); d > 0 && !signal.aborted; d = this.delayMs()) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.min(d, 250));
        function done() {
          signal.removeEventListener('abort', done);
          clearTimeout(t);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
    }
    this.#nextCheck = this.nowMs() + CHECK_MS;
  }
}
