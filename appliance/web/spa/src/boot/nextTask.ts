// Ends the current task and continues in a new one, so that the browser may paint and answer
// input in between: on a phone every task over 50 ms is a long task (issue 15, Lighthouse's
// blocking time), and starting the app was one of ~40 ms of a desktop's CPU, four times
// that on a phone. A message on a channel, not a timer: a background tab's timers wait
// up to a second.

interface Scheduler {
  yield(): Promise<void>
}

export function nextTask(): Promise<void> {
  const scheduler = (globalThis as { scheduler?: Scheduler }).scheduler
  if (typeof scheduler?.yield === 'function') return scheduler.yield()
  return new Promise((done) => {
    const channel = new MessageChannel()
    channel.port1.onmessage = () => {
      channel.port1.close()
      done()
    }
    channel.port2.postMessage(null)
  })
}

/** Runs each step in a task of its own, in order; resolves after the last. */
export async function inTasks(steps: readonly (() => unknown)[]): Promise<void> {
  for (const step of steps) {
    await nextTask()
    step()
  }
}
