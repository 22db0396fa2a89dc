/**
 * The `current` pointer: one small object naming the published version readers follow,
 * replaced atomically; moved as a compare-and-swap when a writer names the version it derived from.
 */
import { VersionConflictError } from '../errors.js';
import { keys } from '../store/keys.js';
import type { ObjectStore } from '../store/object-store.js';

interface Pointer {
  /** The pointer object's bytes (for the compare-and-swap), undefined before the first publish. */
  raw: Buffer | undefined;
  version: string | undefined;
}

/** Reads and parses the pointer object (the one place it is parsed). */
async function readPointer(store: ObjectStore): Promise<Pointer> {
  if (!(await store.head(keys.current()))) return { raw: undefined, version: undefined };
  const raw = await store.get(keys.current());
  return { raw, version: (JSON.parse(raw.toString('utf8')) as { version: string }).version };
}

/** Told after `current` of a store moved (a process that can, tells running servers: src/serve/current-channel.ts). */
export type CurrentMoveListener = (store: ObjectStore, version: string) => void;
const moveListeners = new Set<CurrentMoveListener>();

/** Calls `listener` after every move of `current` made by this process; returns the unsubscribe. */
export function onCurrentMoved(listener: CurrentMoveListener): () => void {
  moveListeners.add(listener);
  return () => moveListeners.delete(listener);
}

function moved(store: ObjectStore, version: string): void {
  for (const l of moveListeners) l(store, version);
}

function pointer(version: string): Buffer {
  return Buffer.from(JSON.stringify({ version, at: new Date().toISOString() }));
}

/** The version `current` points to, or undefined before the first publish. */
export async function currentVersion(store: ObjectStore): Promise<string | undefined> {
  return (await readPointer(store)).version;
}

function conflict(version: string, expected: string | null, now: string | undefined): VersionConflictError {
  return new VersionConflictError(`version ${version} was derived from ${expected ?? '(none)'} but current is now ${now ?? '(none)'}; nothing was promoted, run it again`, expected ?? undefined, now);
}

/** Fails early (before writing a manifest) when current already moved away from the base. */
export async function checkCurrent(store: ObjectStore, expected: string | null, version: string): Promise<void> {
  const now = await currentVersion(store);
  if ((now ?? null) !== expected) throw conflict(version, expected, now);
}

/**
 * Moves `current` to `version`; with `expected`, as a compare-and-swap on the pointer object
 * (ObjectStore.swap), so of two writers derived from the same base exactly one moves it.
 */
export async function moveCurrent(store: ObjectStore, version: string, expected: string | null | undefined): Promise<void> {
  if (expected === undefined) {
    await store.put(keys.current(), pointer(version));
  } else {
    const now = await readPointer(store);
    if ((now.version ?? null) !== expected) throw conflict(version, expected, now.version);
    if (!(await store.swap(keys.current(), now.raw, pointer(version)))) throw conflict(version, expected, await currentVersion(store));
  }
  moved(store, version);
}
