/** The W.f32 objects a version left in the store (a published version should leave none: its indexes hold the rows). */
import { keys } from '../../src/store/keys.js';
import type { ObjectStore } from '../../src/store/object-store.js';

export async function weightObjects(store: ObjectStore, version: string): Promise<string[]> {
  return (await store.list(`${keys.versionsPrefix}${version}/`)).map((o) => o.key).filter((k) => k.endsWith('/W.f32'));
}
