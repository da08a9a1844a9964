/** What a request ended with, unless a newer one replaced it. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * One request at a time per owner: starting a new one aborts the previous, so a slow answer to an
 * old filter can never overwrite the answer to the new one.
 */
export class LatestRequest {
  private controller: AbortController | null = null;

  /** The outcome, or null when a newer `run` (or `cancel`) superseded this one. */
  async run<T>(load: (signal: AbortSignal) => Promise<T>): Promise<Outcome<T> | null> {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    let outcome: Outcome<T>;
    try {
      outcome = { ok: true, value: await load(controller.signal) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    if (controller.signal.aborted || this.controller !== controller) return null;
    this.controller = null;
    return outcome;
  }

  cancel(): void {
    this.controller?.abort();
    this.controller = null;
  }
}
