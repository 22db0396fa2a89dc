/**
 * Progress of long native calls, as a caller sees it: `(done, total)` a few times a second at
 * most (the addon rate-limits), done never going back, the last call `done === total`, and no
 * call once the returned promise has settled. Not here: the rate limit and the thread-safe
 * function (native/core/progress.h, native/addon/progress_binding.h).
 */

/**
 * Called on the JS thread with the work done so far and the total, in the call's unit (rows,
 * documents, vectors). An exception it throws fails the call it was given to, once the native
 * work has ended; later progress of that call is not delivered.
 */
export type ProgressCallback = (done: number, total: number) => void;

/**
 * Runs `call` with a relay of onProgress for the addon, and keeps the promises above: the
 * addon's reports travel through a queue that the promise's completion can overtake, so reports
 * arriving after it are dropped, and a success whose final report has not arrived yet gets one
 * here, before this resolves. Without onProgress the addon gets no function (and pays nothing).
 * @param total the total the final report carries
 */
export async function withProgress<T>(
  onProgress: ProgressCallback | undefined,
  total: number,
  call: (relay: ProgressCallback | undefined) => Promise<T>,
): Promise<T> {
  if (!onProgress) return call(undefined);
  let open = true;
  let last = -1;
  let failed = false;
  let error: unknown;
  const deliver = (done: number, of: number): void => {
    if (!open || failed || done <= last) return;
    last = done;
    try {
      onProgress(done, of);
    } catch (err) {
      failed = true;
      error = err;
    }
  };
  let result: T;
  try {
    result = await call(deliver);
  } finally {
    open = false;
  }
  if (!failed && last < total) {
    open = true;
    deliver(total, total);
    open = false;
  }
  if (failed) throw error;
  return result;
}
