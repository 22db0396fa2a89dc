// Trains ψ on LEMUR's standardised targets: ψ then a bias-free Linear(h -> m'), MSE, Adam,
// global-norm gradient clipping, reshuffled mini-batches, optional validation split with
// best-epoch keeping. Seeded and reproducible for a given seed and thread count.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "psi.h"
#include "status.h"

namespace lemur {

struct TrainOptions {
  int hidden = 2048;
  int num_layers = 1;  // 1 = Linear+LN+GELU; each extra adds Linear(h -> h)+LN+GELU
  int epochs = 10;     // 0 = random-feature ("ELM") variant: no training
  int batch = 512;
  float lr = 3e-3f;
  float beta1 = 0.9f, beta2 = 0.999f, adam_eps = 1e-8f;
  float clip = 0.5f;
  double val_fraction = 0.0;  // held-out rows for best-epoch keeping
  uint64_t seed = 0;
  int threads = 1;  // our row loops; sgemm runs on the process-wide BLAS count (blas.h)
};

struct EpochStats {
  int epoch;
  double train_loss;
  double val_loss;  // NaN without a validation split
  double seconds;
};

struct TrainResult {
  PsiWeights psi;
  std::vector<EpochStats> epochs;
  int best_epoch = -1;  // epoch whose weights were kept (last, or best on validation)
  int64_t batches = 0;  // batches per epoch (0 without training)
};

// Progress within an epoch.
struct BatchStats {
  int epoch;        // 1-based
  int epochs;
  int64_t batch;    // batches done in this epoch, 1-based
  int64_t batches;  // batches per epoch
  double loss;      // running mean training loss of this epoch so far (at batch == batches: its train_loss)
};

using EpochCallback = std::function<void(const EpochStats&)>;
using BatchCallback = std::function<void(const BatchStats&)>;

// X: n x dim learn vectors; Y: n x m standardised targets. A loss that becomes NaN or Inf stops
// training with kInvalidInput naming the epoch and batch: a NaN model is never returned.
// on_epoch follows every epoch. on_batch (optional) follows a batch at most every
// kProgressInterval (progress.h) and always the last batch of an epoch, before that epoch's
// validation and on_epoch; both are called on the calling thread.
Status train_psi(const float* X, int64_t n, int dim, const float* Y, int64_t m, const TrainOptions& opt,
                 TrainResult* out, const EpochCallback& on_epoch, const BatchCallback& on_batch = {});

// One forward/backward pass without an update, for tests (finite-difference checks): grads in
// the order weight, bias, gamma, beta of each layer, then the output layer.
Status psi_gradients(const PsiWeights& psi, const std::vector<float>& out_w, const float* X, const float* T, int64_t b,
                     int64_t m, double* loss, std::vector<std::vector<float>>* grads);

// Kaiming-uniform initialisation like torch.nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
PsiWeights init_psi(int dim, const TrainOptions& opt, uint64_t seed, bool elm);

}  // namespace lemur
