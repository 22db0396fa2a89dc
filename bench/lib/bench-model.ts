/**
 * The LEMUR model a search benchmark runs on: loaded from --model PATH when that file exists
 * (a default fit takes ~12 minutes on 2 cores), else fitted on the corpus (the defaults, or a
 * small fit with --quick) and saved to PATH when one was given.
 */
import { existsSync } from 'node:fs';

import { fitLemur } from '../../src/model/fit-lemur.js';
import { LemurModel } from '../../src/model/lemur-model.js';
import type { TokenStore } from '../../src/native/token-store.js';
import { progress } from './report.js';

export async function benchModel(path: string | undefined, store: TokenStore, quick: boolean): Promise<LemurModel> {
  if (path && existsSync(path)) {
    progress(`loading model ${path}`);
    return LemurModel.load(path);
  }
  progress('fitting LEMUR (defaults)');
  const { model } = await fitLemur(store, quick ? { mPrime: 2048, nLearn: 30000, olsSamples: 4096, hidden: 1024, epochs: 3 } : {});
  if (path) await model.save(path);
  return model;
}
