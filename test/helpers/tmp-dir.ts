/** A private temporary folder per test file, removed by the returned cleanup (call it in after()). */
import { makeScratchDir } from '../../src/store/scratch.js';

export function makeTmpDir(prefix = 'lemur-test-'): { dir: string; cleanup: () => void } {
  return makeScratchDir(prefix);
}
